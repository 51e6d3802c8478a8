package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// Options configure a Server. A zero field means its default.
type Options struct {
	// Deployment names the deployment: it is in the stream's name, the
	// answer subjects and the notice subjects.
	Deployment string
	// Replicas of the answers' stream (default 1).
	Replicas int
	// History is how many answers the stream keeps per instance.
	History int
	// MaxAge is how long the stream keeps an answer.
	MaxAge time.Duration
	// InstanceTTL is how long an instance is recomputed after its last
	// subscribe request.
	InstanceTTL time.Duration
	// CheckInterval is how often the instances whose projection moved past
	// their last read are recomputed (what a lost notice left behind).
	CheckInterval time.Duration
	// ReadTimeout bounds one recomputation.
	ReadTimeout time.Duration
	// MaxInstances bounds the instances kept; a subscribe to a new one past
	// it answers 503 unavailable.
	MaxInstances int
	Logger       *slog.Logger
}

// Option changes one setting of a Server.
type Option func(*Options)

// WithDeployment names the deployment.
func WithDeployment(name string) Option { return func(o *Options) { o.Deployment = name } }

// WithReplicas sets the replicas of the answers' stream.
func WithReplicas(n int) Option { return func(o *Options) { o.Replicas = n } }

// WithHistory sets how many answers are kept per instance.
func WithHistory(n int) Option { return func(o *Options) { o.History = n } }

// WithInstanceTTL sets how long an instance lives after its last subscribe.
func WithInstanceTTL(d time.Duration) Option { return func(o *Options) { o.InstanceTTL = d } }

// WithCheckInterval sets how often the instances a lost notice may have
// left behind are recomputed.
func WithCheckInterval(d time.Duration) Option { return func(o *Options) { o.CheckInterval = d } }

// WithMaxInstances bounds the instances the server keeps.
func WithMaxInstances(n int) Option { return func(o *Options) { o.MaxInstances = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

func (o *Options) defaults() {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.InstanceTTL <= 0 {
		o.InstanceTTL = DefaultInstanceTTL
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = reader.DefaultReadTimeout
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = DefaultMaxInstances
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// errTooManyInstances refuses a new instance past Options.MaxInstances.
var errTooManyInstances = errors.New("live: the server keeps as many live query instances as it may; subscribe to one that exists or try again later")

// Server keeps the live instances of registered queries up to date in the
// answers' stream. Several servers may run: each takes every subscribe
// request (no queue group), so each knows every instance, and the expected
// last subject sequence of each append keeps their answers single and in
// order.
type Server struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	views   *projections.Views
	opts    Options
	queries map[string]reader.Query // by model.name
	log     *slog.Logger

	// checked is each projection's checkpoint at the last check
	// (refreshLoop's alone).
	checked map[string]uint64

	mu        sync.Mutex
	instances map[string]*instance // by answer subject
	dirty     map[string]*instance
	wake      chan struct{}
}

// instance is one query with one set of parameters.
type instance struct {
	q       reader.Query
	params  reader.Params
	raw     json.RawMessage
	id      string
	subject string
	ids     []string  // values of the query's ID parameters
	expires time.Time // guarded by Server.mu
	// readAt is the checkpoint of the projection at the last read.
	readAt atomic.Uint64

	// mu serialises this server's refreshes of the instance; the fields
	// below are the last answer on the stream as this server knows it.
	mu         sync.Mutex
	known      bool
	streamSeq  uint64
	sequence   uint64
	answer     []byte // the answer's data/error, compared to find a change
	lastPubMsg []byte // the whole message body of the last answer
}

// NewServer provisions the answers' stream (idempotently) and returns a
// server of queries; Run it.
func NewServer(ctx context.Context, nc *nats.Conn, rdb redis.UniversalClient, queries []reader.Query, options ...Option) (*Server, error) {
	var opts Options
	for _, o := range options {
		o(&opts)
	}
	opts.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	cfg := jetstream.StreamConfig{
		Name:              StreamName(opts.Deployment),
		Description:       "jetsource live query answers (bounded history per instance)",
		Subjects:          []string{"live." + answerToken(opts.Deployment) + ".*.*.*"},
		Storage:           jetstream.MemoryStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            opts.MaxAge,
		MaxMsgsPerSubject: int64(opts.History),
		Discard:           jetstream.DiscardOld,
		Replicas:          opts.Replicas,
		AllowDirect:       true,
	}
	stream, err := streams.ProvisionStream(ctx, js, cfg)
	if err != nil {
		return nil, fmt.Errorf("live: provision stream %s: %w", cfg.Name, err)
	}
	s := &Server{nc: nc, js: js, stream: stream, views: projections.NewViews(rdb), opts: opts,
		queries: map[string]reader.Query{}, log: opts.Logger, checked: map[string]uint64{},
		instances: map[string]*instance{}, dirty: map[string]*instance{}, wake: make(chan struct{}, 1)}
	for _, q := range queries {
		if q.Model == "" || q.Name == "" || q.Read == nil || q.Projection == "" {
			return nil, fmt.Errorf("live: query %s.%s needs a model, a name, a projection and Read", q.Model, q.Name)
		}
		key := q.Model + "." + q.Name
		if _, dup := s.queries[key]; dup {
			return nil, fmt.Errorf("live: query %s registered twice", key)
		}
		s.queries[key] = q
	}
	return s, nil
}

// Run serves subscribe requests and notices until ctx is done, and returns
// when everything it started has stopped.
func (s *Server) Run(ctx context.Context) error {
	requests := make(chan *nats.Msg, 1024)
	reqSub, err := s.nc.ChanSubscribe(requestWildcard, requests)
	if err != nil {
		return fmt.Errorf("live: subscribe %s: %w", requestWildcard, err)
	}
	defer func() { _ = reqSub.Unsubscribe() }()
	noticeSub, err := s.nc.Subscribe(NoticeSubject(s.opts.Deployment, "*"), s.onNotice)
	if err != nil {
		return fmt.Errorf("live: subscribe notices: %w", err)
	}
	defer func() { _ = noticeSub.Unsubscribe() }()

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxConcurrentRefresh)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.refreshLoop(ctx, slots)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-requests:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				s.subscribe(ctx, msg)
			}()
		}
	}
}

// subscribeReply is the answer to a subscribe request.
type subscribeReply struct {
	Instance       string          `json:"instance"`
	Subject        string          `json:"subject"`
	Stream         string          `json:"stream"`
	StreamSequence uint64          `json:"stream_sequence"`
	Params         json.RawMessage `json:"params"`
	TTLMillis      int64           `json:"ttl_ms"`
	Answer         json.RawMessage `json:"answer"`
}

// subscribe registers (or renews) the instance a request names, makes sure
// its current answer is on the stream, and replies with it.
func (s *Server) subscribe(ctx context.Context, msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	parts := strings.Split(msg.Subject, ".")
	q, ok := s.queries[parts[1]+"."+parts[2]]
	if !ok {
		replyError(msg, http.StatusNotFound, "not_found", "no live query "+parts[1]+"."+parts[2])
		return
	}
	params, err := q.Decode(msg.Data)
	if err != nil {
		replyError(msg, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	inst, err := s.register(q, params)
	if errors.Is(err, errTooManyInstances) {
		replyError(msg, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	if err != nil {
		replyError(msg, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
	defer cancel()
	streamSeq, body, err := s.refresh(ctx, inst)
	if err != nil {
		s.log.Warn("live: cannot answer a subscribe", "subject", inst.subject, "error", err)
		replyError(msg, http.StatusServiceUnavailable, "unavailable", "cannot read the answer now: "+err.Error())
		return
	}
	out, err := json.Marshal(subscribeReply{Instance: inst.id, Subject: inst.subject, Stream: s.stream.CachedInfo().Config.Name,
		StreamSequence: streamSeq, Params: inst.raw, TTLMillis: s.opts.InstanceTTL.Milliseconds(), Answer: body})
	if err != nil {
		replyError(msg, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	_ = msg.Respond(out)
}

// register adds the instance of q with params, or renews it.
func (s *Server) register(q reader.Query, params reader.Params) (*instance, error) {
	raw, id, err := canonical(q, params)
	if err != nil {
		return nil, err
	}
	subject := AnswerSubject(s.opts.Deployment, q.Model, q.Name, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[subject]
	if !ok {
		if len(s.instances) >= s.opts.MaxInstances {
			return nil, errTooManyInstances
		}
		inst = &instance{q: q, params: params, raw: raw, id: id, subject: subject}
		for _, d := range q.Params {
			if d.ID && params.Has(d.Name) {
				inst.ids = append(inst.ids, params.String(d.Name))
			}
		}
		s.instances[subject] = inst
	}
	inst.expires = time.Now().Add(s.opts.InstanceTTL)
	return inst, nil
}

// onNotice marks the instances a notice may change.
func (s *Server) onNotice(msg *nats.Msg) {
	var n Notice
	if err := json.Unmarshal(msg.Data, &n); err != nil {
		s.log.Warn("live: malformed notice", "subject", msg.Subject, "error", err)
		return
	}
	ids := make([]string, 0, len(n.Aggregates))
	for _, a := range n.Aggregates {
		if _, id, ok := strings.Cut(a, "."); ok {
			ids = append(ids, id)
		}
	}
	s.mu.Lock()
	for subject, inst := range s.instances {
		if inst.q.Projection != n.Projection && !slices.Contains(inst.q.Also, n.Projection) {
			continue
		}
		if len(inst.ids) > 0 && !slices.ContainsFunc(inst.ids, func(id string) bool { return slices.Contains(ids, id) }) {
			continue
		}
		s.dirty[subject] = inst
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// refreshLoop recomputes the marked instances, and every instance each
// CheckInterval; it drops the instances nobody renewed.
func (s *Server) refreshLoop(ctx context.Context, slots chan struct{}) {
	tick := time.NewTicker(s.opts.CheckInterval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
			s.markMoved(ctx)
		}
		s.mu.Lock()
		batch := s.dirty
		s.dirty = map[string]*instance{}
		s.mu.Unlock()
		for _, inst := range batch {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				rctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
				defer cancel()
				if _, _, err := s.refresh(rctx, inst); err != nil && ctx.Err() == nil {
					s.log.Warn("live: cannot recompute an instance; the next check tries again", "subject", inst.subject, "error", err)
				}
			}()
		}
		wg.Wait()
	}
}

// markMoved forgets the expired instances and marks those a lost notice
// may have left behind: whose projection's checkpoint is past the one of
// their last read, or one of whose further projections (Query.Also) moved
// since the last check. A projection whose checkpoint cannot be read marks
// its instances.
func (s *Server) markMoved(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	live := make([]*instance, 0, len(s.instances))
	for subject, inst := range s.instances {
		if now.After(inst.expires) {
			delete(s.instances, subject)
			continue
		}
		live = append(live, inst)
	}
	s.mu.Unlock()
	checkpoints := map[string]uint64{}
	moved := map[string]bool{}
	for _, inst := range live {
		for _, name := range append([]string{inst.q.Projection}, inst.q.Also...) {
			if _, done := checkpoints[name]; done || moved[name] {
				continue
			}
			cp, err := s.checkpointOf(ctx, name)
			if err != nil {
				moved[name] = true
				continue
			}
			checkpoints[name] = cp
			moved[name] = cp != s.checked[name]
			s.checked[name] = cp
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range live {
		mark := moved[inst.q.Projection] && checkpoints[inst.q.Projection] == 0 ||
			checkpoints[inst.q.Projection] > inst.readAt.Load() ||
			slices.ContainsFunc(inst.q.Also, func(name string) bool { return moved[name] })
		if mark {
			s.dirty[inst.subject] = inst
		}
	}
}

// noKey is a key no projection writes: reading it reads the checkpoint alone.
const noKey = "live-checkpoint-probe"

// checkpointOf reads the checkpoint of a projection's current generation.
func (s *Server) checkpointOf(ctx context.Context, name string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
	defer cancel()
	v, err := s.views.View(ctx, name)
	if err != nil {
		return 0, err
	}
	if _, err := v.HGetAll(ctx, v.Keys.Key(noKey)); err != nil {
		return 0, err
	}
	return v.Checkpoint(), nil
}

// Instances is the number of instances the server keeps up to date.
func (s *Server) Instances() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.instances)
}

// Message is one answer on an instance's subject: the answer (Data, or
// Error for a not found), the sequence it reflects and the sequence of the
// answer before it (0 for the first).
type Message struct {
	Sequence uint64          `json:"sequence"`
	Previous uint64          `json:"previous,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Error    *ErrorBody      `json:"error,omitempty"`
}

// ErrorBody is the contract's error: a code and a message for a person.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// maxPublishAttempts bounds the appends of one refresh that lose to another
// server's.
const maxPublishAttempts = 5

// refresh reads the instance's answer and appends it when it is newer than
// and different from the last on the stream. It returns the stream
// sequence and body of the last answer on the stream.
func (s *Server) refresh(ctx context.Context, inst *instance) (uint64, []byte, error) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if !inst.known {
			if err := s.loadLast(ctx, inst); err != nil {
				return 0, nil, err
			}
		}
		answer, checkpoint, err := s.read(ctx, inst)
		if err != nil {
			return 0, nil, err
		}
		inst.readAt.Store(checkpoint)
		if inst.streamSeq > 0 && (checkpoint <= inst.sequence || bytes.Equal(answer, inst.answer)) {
			return inst.streamSeq, inst.lastPubMsg, nil
		}
		var m Message
		if err := json.Unmarshal(answer, &m); err != nil {
			return 0, nil, err
		}
		m.Sequence, m.Previous = checkpoint, inst.sequence
		body, err := json.Marshal(m)
		if err != nil {
			return 0, nil, err
		}
		ack, err := s.js.Publish(ctx, inst.subject, body, jetstream.WithExpectLastSequencePerSubject(inst.streamSeq))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == 10164) && attempt < maxPublishAttempts {
			inst.known = false // another server appended first: read its answer
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("live: append the answer of %s: %w", inst.subject, err)
		}
		inst.streamSeq, inst.sequence, inst.answer, inst.lastPubMsg = ack.Sequence, checkpoint, answer, body
		return inst.streamSeq, body, nil
	}
}

// loadLast reads the last answer of the instance on the stream.
func (s *Server) loadLast(ctx context.Context, inst *instance) error {
	msg, err := s.stream.GetLastMsgForSubject(ctx, inst.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		inst.known, inst.streamSeq, inst.sequence, inst.answer, inst.lastPubMsg = true, 0, 0, nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("live: read the last answer of %s: %w", inst.subject, err)
	}
	var m Message
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		return fmt.Errorf("live: last answer of %s at stream sequence %d is malformed: %w", inst.subject, msg.Sequence, err)
	}
	answer, err := json.Marshal(Message{Data: m.Data, Error: m.Error})
	if err != nil {
		return err
	}
	inst.known, inst.streamSeq, inst.sequence, inst.answer, inst.lastPubMsg = true, msg.Sequence, m.Sequence, answer, msg.Data
	return nil
}

// read runs the query once (again when a rebuild switched generation), and
// returns its answer as the data/error part of a Message.
func (s *Server) read(ctx context.Context, inst *instance) ([]byte, uint64, error) {
	for attempt := 1; ; attempt++ {
		v, err := s.views.View(ctx, inst.q.Projection)
		if err != nil {
			return nil, 0, err
		}
		data, err := runRead(ctx, inst.q, v, inst.params)
		if errors.Is(err, projections.ErrGenerationSwitched) && attempt < 3 {
			continue
		}
		var m Message
		switch {
		case errors.Is(err, projections.ErrNotFound):
			m.Error = &ErrorBody{Code: "not_found", Message: err.Error()}
		case err != nil:
			return nil, 0, err
		default:
			if m.Data, err = json.Marshal(data); err != nil {
				return nil, 0, fmt.Errorf("live: encode the answer of %s: %w", inst.subject, err)
			}
		}
		out, err := json.Marshal(m)
		return out, v.Checkpoint(), err
	}
}

// runRead runs a query's Read, a panic becoming its error.
func runRead(ctx context.Context, q reader.Query, v *projections.View, p reader.Params) (data any, err error) {
	defer func() {
		if rv := recover(); rv != nil {
			err = fmt.Errorf("live: query %s panicked: %v\n%s", q.Subject(), rv, debug.Stack())
		}
	}()
	return q.Read(ctx, v, p)
}

// replyError answers a request with the contract's error envelope and the
// micro error headers.
func replyError(msg *nats.Msg, status int, code, message string) {
	body, _ := json.Marshal(map[string]ErrorBody{"error": {Code: code, Message: message}})
	out := nats.NewMsg(msg.Reply)
	out.Header.Set("Nats-Service-Error-Code", strconv.Itoa(status))
	out.Header.Set("Nats-Service-Error", message)
	out.Data = body
	_ = msg.RespondMsg(out)
}
