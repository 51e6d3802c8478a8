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
	// commands, with the same step names.
	React func(ctx context.Context, c *Commands, ev streams.Recorded) error
	// Fired handles a timer scheduled with Commands.Schedule (optional).
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
	Retry  time.Duration
	Logger *slog.Logger
}

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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{nc: nc, js: store.JetStream(), store: store, p: p, opts: opts, log: log.With("process", p.Name)}, nil
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
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("process: timer stream %s: %w", name, err)
	}
	return nil
}

// Run follows the events (and the timers when Fired is set) until ctx is
// done; it returns nil then, or the error that stopped it.
func (m *Manager) Run(ctx context.Context) error {
	events, err := m.consumer(ctx, m.store.StreamName(), false, m.p.Subjects)
	if err != nil {
		return err
	}
	var timers jetstream.Consumer
	if m.p.Fired != nil {
		if err := ProvisionTimers(ctx, m.js, m.opts.TimerStream, m.opts.Replicas); err != nil {
			return err
		}
		if timers, err = m.consumer(ctx, m.opts.TimerStream, true, []string{FiredSubjects(m.p.Name)}); err != nil {
			return err
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- m.follow(ctx, events, m.handleEvent, nil) }()
	runs := 1
	if timers != nil {
		stream, err := m.js.Stream(ctx, m.opts.TimerStream)
		if err != nil {
			return fmt.Errorf("process %s: timer stream %s: %w", m.p.Name, m.opts.TimerStream, err)
		}
		runs++
		go func() { errs <- m.follow(ctx, timers, m.handleTimer, m.forgetTimer(stream)) }()
	}
	var first error
	for range runs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Manager) consumer(ctx context.Context, stream string, timers bool, subjects []string) (jetstream.Consumer, error) {
	name := ConsumerName(m.opts.Deployment, m.p.Name, timers)
	cfg := jetstream.ConsumerConfig{
		Durable:        name,
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxAckPending:  1,
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

// follow pulls one message at a time and acknowledges it once handled;
// then done (if not nil) runs on it.
func (m *Manager) follow(ctx context.Context, c jetstream.Consumer, handle func(context.Context, jetstream.Msg) error,
	done func(context.Context, jetstream.Msg)) error {
	wait := m.opts.PinnedTTL / 2
	wait = max(wait, 100*time.Millisecond)
	for ctx.Err() == nil {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(wait), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Debug("fetch failed", "error", err)
			sleep(ctx, m.opts.Retry)
			continue
		}
		for msg := range batch.Messages() {
			if err := m.handleHeld(ctx, msg, handle); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				m.log.Warn("step failed: it runs again", "subject", msg.Subject(), "error", err)
				_ = msg.NakWithDelay(m.opts.Retry)
				continue
			}
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.CommandTimeout)
			err := msg.DoubleAck(actx)
			if err != nil {
				m.log.Warn("acknowledgement failed: the message comes again", "subject", msg.Subject(), "error", err)
			} else if done != nil {
				done(actx, msg)
			}
			cancel()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			m.log.Debug("fetch ended", "error", err)
			sleep(ctx, 50*time.Millisecond)
		}
	}
	return nil
}

// handleHeld runs handle, telling the server every AckWait/3 that the
// message is still in progress, so that a long step (a writer that answers
// late) keeps it from being handed again meanwhile.
func (m *Manager) handleHeld(ctx context.Context, msg jetstream.Msg, handle func(context.Context, jetstream.Msg) error) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(m.opts.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	err := handle(ctx, msg)
	close(done)
	wg.Wait()
	return err
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
