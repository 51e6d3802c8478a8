package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// Process is what a process manager does: the event subjects it follows,
// what it does with each event, and with each timer that fires.
type Process struct {
	// Name is [a-z][a-z0-9_]{0,63}: it names the consumers and timer subjects.
	Name string
	// Subjects are the event subjects followed, e.g. events.transfer.>.
	Subjects []string
	// React handles one event. It may be called again with the same event
	// (after a crash, or when it returned an error): it must send the same
	// commands, with the same step names. The events of one process instance
	// (one aggregate) reach it one at a time, in stream order; those of
	// different instances concurrently (Options.Workers), so React must be
	// safe for concurrent use. After a failover an earlier event of an
	// instance may come again once a later one was handled: React decides
	// from the instance's state, not from the event's place (see the package
	// documentation).
	React func(ctx context.Context, c *Commands, ev streams.Recorded) error
	// Fired handles a timer scheduled with Commands.Schedule (optional). It
	// runs beside React, even for the same instance, so that a timeout can
	// end a step that waits (the commands it sends decide, at the aggregate,
	// which comes first); the timers of one instance run one at a time.
	Fired func(ctx context.Context, c *Commands, t Timer) error
}

// Timer is a timer that fired.
type Timer struct {
	// Ref is the aggregate the timer was scheduled for.
	Ref streams.Ref
	// Data is what was scheduled.
	Data []byte
}

// Options of a Manager.
type Options struct {
	// Deployment is deployment.name (see docs/contract.md §6): it goes into
	// the consumer names.
	Deployment string
	// TimerStream names the stream of timers (default TIMERS).
	TimerStream string
	// Replicas of the timer stream (default 1).
	Replicas int
	// PinnedTTL is how long the server keeps the active instance pinned
	// after it stopped pulling (default 5 s): the failover time.
	PinnedTTL time.Duration
	// AckWait is how long an event handed to an instance that died is held
	// before it is handed again (default 30 s).
	AckWait time.Duration
	// CommandTimeout bounds one command's request (default 10 s).
	CommandTimeout time.Duration
	// Retry is the delay before an event whose React failed is handed again
	// (default 500 ms).
	Retry time.Duration
	// Workers is how many events are handled at once, each of another
	// process instance (default 32), and apart how many timers. An
	// instance's events always go to the same worker, by a hash of the
	// instance, one at a time (its timers likewise).
	Workers int
	// MaxAckPending is how many events of each event stream followed (and,
	// apart, timers) the active instance holds at once, being handled or
	// waiting for their worker (default 8 per worker). 1 with one worker
	// handles one event at a time.
	MaxAckPending int
	Logger        *slog.Logger
}

// DefaultWorkers is the default of Options.Workers.
const DefaultWorkers = 32

// pendingPerWorker is the default of Options.MaxAckPending per worker: room
// for the instances that share a worker to wait their turn.
const pendingPerWorker = 8

// DefaultTimerStream is the default name of the stream of timers.
const DefaultTimerStream = "TIMERS"

// TimerPrefix is the first token of every timer subject.
const TimerPrefix = "timers"

// priorityGroup is the consumers' one priority group.
const priorityGroup = "active"

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Manager runs one Process.
type Manager struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store *streams.Store
	p     Process
	opts  Options
	log   *slog.Logger
	// follows groups p.Subjects by the event stream that holds them: one
	// consumer on each.
	follows []streams.StreamSubjects
}

// New checks p and opts and returns a Manager; Run starts it.
func New(nc *nats.Conn, store *streams.Store, p Process, opts Options) (*Manager, error) {
	if !namePattern.MatchString(p.Name) {
		return nil, fmt.Errorf("process: name %q must match [a-z][a-z0-9_]{0,63}", p.Name)
	}
	if len(p.Subjects) == 0 {
		return nil, fmt.Errorf("process %s: no subjects to follow", p.Name)
	}
	if p.React == nil {
		return nil, fmt.Errorf("process %s: React is required", p.Name)
	}
	follows, err := store.Layout().SubjectsByStream(p.Subjects)
	if err != nil {
		return nil, fmt.Errorf("process %s: %w", p.Name, err)
	}
	if opts.TimerStream == "" {
		opts.TimerStream = DefaultTimerStream
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.PinnedTTL <= 0 {
		opts.PinnedTTL = 5 * time.Second
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	if opts.Retry <= 0 {
		opts.Retry = 500 * time.Millisecond
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxAckPending <= 0 {
		opts.MaxAckPending = pendingPerWorker * opts.Workers
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{nc: nc, js: store.JetStream(), store: store, p: p, opts: opts, log: log.With("process", p.Name),
		follows: follows}, nil
}

// ConsumerName is the name of a process manager's consumer of events
// (timers false) or of its timers.
func ConsumerName(deployment, process string, timers bool) string {
	name := "jetsource_"
	if deployment != "" {
		name += deployment + "_"
	}
	name += "pm_" + process
	if timers {
		name += "_timers"
	}
	return name
}

// ProvisionTimers creates the stream of timers (or checks it) with message
// schedules allowed.
func ProvisionTimers(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	cfg := jetstream.StreamConfig{
		Name:              name,
		Subjects:          []string{TimerPrefix + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		AllowMsgSchedules: true,
		AllowRollup:       true,
		Duplicates:        10 * time.Minute,
	}
	if _, err := streams.ProvisionStream(ctx, js, cfg); err != nil {
		return fmt.Errorf("process: timer stream %s: %w", name, err)
	}
	return nil
}

// Name is the name of the process the manager runs.
func (m *Manager) Name() string { return m.p.Name }

// Run follows the events (and the timers when Fired is set) until ctx is
// done; it returns nil then, or the error that stopped it. The events are
// followed with one consumer on each event stream that holds some of the
// subjects (the one stream of a single-stream deployment); the events of
// all share the workers, by instance, and an instance's events all lie in
// one stream, so they keep its order. When it returns, every event it held
// and had not acknowledged was handed back (Nak), in stream order, so that
// the next active instance takes it at once.
func (m *Manager) Run(ctx context.Context) error {
	var sources []*source
	for _, f := range m.follows {
		events, err := m.consumer(ctx, f.Stream, false, f.Subjects)
		if err != nil {
			return err
		}
		sources = append(sources, &source{kind: "event", stream: f.Stream, c: events, handle: m.handleEvent, key: eventKey,
			held: map[uint64]*held{}})
	}
	if m.p.Fired != nil {
		if err := ProvisionTimers(ctx, m.js, m.opts.TimerStream, m.opts.Replicas); err != nil {
			return err
		}
		timers, err := m.consumer(ctx, m.opts.TimerStream, true, []string{FiredSubjects(m.p.Name)})
		if err != nil {
			return err
		}
		stream, err := m.js.Stream(ctx, m.opts.TimerStream)
		if err != nil {
			return fmt.Errorf("process %s: timer stream %s: %w", m.p.Name, m.opts.TimerStream, err)
		}
		sources = append(sources, &source{kind: "timer", stream: m.opts.TimerStream, c: timers, handle: m.handleTimer, key: m.timerKey,
			done: m.forgetTimer(stream), held: map[uint64]*held{}})
	}
	var wg sync.WaitGroup
	workers := map[string][]*lane{}
	for _, s := range sources {
		// Events and timers have workers of their own: a timer must not
		// wait for the step it is to time out. The events of every stream
		// share theirs.
		lanes, ok := workers[s.kind]
		if !ok {
			lanes = make([]*lane, m.opts.Workers)
			for i := range lanes {
				lanes[i] = newLane()
				wg.Go(func() { m.work(ctx, lanes[i]) })
			}
			workers[s.kind] = lanes
		}
		wg.Go(func() { m.follow(ctx, s, lanes) })
		wg.Go(func() { m.keepInProgress(ctx, s) })
	}
	wg.Wait()
	for _, s := range sources {
		s.handBack()
	}
	return nil
}

func (m *Manager) consumer(ctx context.Context, stream string, timers bool, subjects []string) (jetstream.Consumer, error) {
	name := ConsumerName(m.opts.Deployment, m.p.Name, timers)
	cfg := jetstream.ConsumerConfig{
		Durable:        name,
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxAckPending:  m.opts.MaxAckPending,
		MaxDeliver:     -1,
		AckWait:        m.opts.AckWait,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{priorityGroup},
		PinnedTTL:      m.opts.PinnedTTL,
	}
	c, err := m.js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("process %s: consumer %s on %s: %w", m.p.Name, name, stream, err)
	}
	return c, nil
}

// forgetTimer deletes a fired timer from the timer stream once its
// handling is acknowledged, so that TIMERS holds only the timers still to
// fire or to handle (a schedule is removed by the server when it fires). A
// failed deletion leaves one message behind, never a timer that fires again:
// the consumer has acknowledged it.
func (m *Manager) forgetTimer(stream jetstream.Stream) func(context.Context, jetstream.Msg) {
	return func(ctx context.Context, msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err == nil {
			err = stream.DeleteMsg(ctx, meta.Sequence.Stream)
		}
		if err != nil {
			m.log.Debug("fired timer not deleted", "subject", msg.Subject(), "error", err)
		}
	}
}

// follow pulls messages and hands each to the worker of its instance as it
// comes. A pull asks for MaxAckPending messages, whatever is held: the server
// sends none past its MaxAckPending, so the pull stays open and brings each
// message as soon as an acknowledgement makes room, rather than one pull
// per message. It pulls again at least every PinnedTTL/2, even with nothing
// to take, so that the server keeps this instance pinned while its workers
// are busy.
func (m *Manager) follow(ctx context.Context, s *source, lanes []*lane) {
	wait := max(m.opts.PinnedTTL/2, 100*time.Millisecond)
	for ctx.Err() == nil {
		batch, err := s.c.Fetch(m.opts.MaxAckPending, jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Debug("fetch failed", "kind", s.kind, "stream", s.stream, "error", err)
			sleep(ctx, m.opts.Retry)
			continue
		}
		// Even once ctx is done, what this pull brings is held (and handed
		// back by Run), never left to wait for AckWait.
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				m.log.Error("message without metadata: it comes again after AckWait", "subject", msg.Subject(), "error", err)
				continue
			}
			if h := s.hold(msg, meta.Sequence.Stream); h != nil {
				lanes[laneOf(s.key(msg), len(lanes))].push(h)
			}
		}
		switch err := batch.Error(); {
		case err == nil, errors.Is(err, nats.ErrTimeout), ctx.Err() != nil:
		case errors.Is(err, jetstream.ErrPinIDMismatch):
			// Another instance is pinned: this one finishes what it holds
			// (its events are still in progress, no one else gets them) and
			// pulls on as a standby.
			m.log.Debug("another instance is active", "kind", s.kind, "stream", s.stream)
		default:
			m.log.Debug("fetch ended", "kind", s.kind, "stream", s.stream, "error", err)
			sleep(ctx, 50*time.Millisecond)
		}
	}
}

// work handles, one at a time, the messages of the instances that hash to
// its lane, each until it succeeded and its acknowledgement was confirmed
// (then the next one of the lane), or until ctx is done (then Run hands
// back what is left).
func (m *Manager) work(ctx context.Context, l *lane) {
	for {
		h, ok := l.pop(ctx)
		if !ok {
			return
		}
		if m.handleUntilAcked(ctx, h) {
			h.src.release(h.seq)
		}
	}
}

// handleUntilAcked runs the message's handling again after each failure
// (the message stays in progress meanwhile, so that no later message of its
// instance runs first and no other instance gets it), then acknowledges it,
// again until the server confirms, for up to AckWait: an unconfirmed
// acknowledgement could bring the message back after a later one of its
// instance. Past AckWait it lets the message go (the server, if it missed
// every acknowledgement, hands it again: React tolerates that) rather than
// hold its worker for good. It reports false when ctx ended first.
func (m *Manager) handleUntilAcked(ctx context.Context, h *held) bool {
	for {
		err := h.src.handle(ctx, h.msg)
		if err == nil {
			break
		}
		if ctx.Err() == nil {
			m.log.Warn("step failed: it runs again", "subject", h.msg.Subject(), "error", err)
			sleep(ctx, m.opts.Retry)
		}
		if ctx.Err() != nil {
			return false
		}
	}
	giveUp := time.Now().Add(m.opts.AckWait)
	for {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.CommandTimeout)
		err := h.msg.DoubleAck(actx)
		if err == nil && h.src.done != nil {
			h.src.done(actx, h.msg)
		}
		cancel()
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case time.Now().After(giveUp):
			m.log.Warn("acknowledgement not confirmed: the message may come again", "subject", h.msg.Subject(), "error", err)
			return true
		}
		m.log.Warn("acknowledgement failed: it is sent again", "subject", h.msg.Subject(), "error", err)
		sleep(ctx, m.opts.Retry)
	}
}

// keepInProgress tells the server every AckWait/3 that each message held is
// still in progress, the ones waiting for their worker as much as the ones
// being handled, so that none is handed again (here or to another instance)
// while it is held.
func (m *Manager) keepInProgress(ctx context.Context, s *source) {
	t := time.NewTicker(m.opts.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, h := range s.inOrder() {
				_ = h.msg.InProgress()
			}
		}
	}
}

func (m *Manager) handleEvent(ctx context.Context, msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	ev, err := streams.Decode(msg.Subject(), streams.Sequence(meta.Sequence.Stream), msg.Headers(), msg.Data())
	if err != nil {
		// A corrupt event is never skipped silently: it is retried, and
		// logged each time, until someone voids it.
		return err
	}
	correlation := ev.CorrelationID
	if correlation == "" {
		correlation = ev.Ref.ID()
	}
	causation := ev.ID
	if !validToken(causation) {
		causation = fmt.Sprintf("seq-%d", ev.Sequence)
	}
	return m.p.React(ctx, m.commands(ev.Ref, correlation, causation), ev)
}

func (m *Manager) handleTimer(ctx context.Context, msg jetstream.Msg) error {
	prefix := timerPrefix(m.p.Name, firedToken)
	subject := msg.Subject()
	if len(subject) <= len(prefix) || subject[:len(prefix)] != prefix {
		return fmt.Errorf("timer subject %s is not under %s", subject, prefix)
	}
	ref, err := streams.ParseSubject(streams.SubjectPrefix + "." + subject[len(prefix):])
	if err != nil {
		m.log.Error("timer of an invalid aggregate dropped", "subject", subject, "error", err)
		return nil // never valid: the process scheduled only valid refs
	}
	h := msg.Headers()
	correlation := h.Get(streams.HeaderCorrelationID)
	if !validToken(correlation) {
		correlation = ref.ID()
	}
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	causation := fmt.Sprintf("timer-%s-%d", m.p.Name, meta.Sequence.Stream)
	return m.p.Fired(ctx, m.commands(ref, correlation, causation), Timer{Ref: ref, Data: msg.Data()})
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
