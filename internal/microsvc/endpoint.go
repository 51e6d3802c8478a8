package microsvc

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Handler takes the requests of an endpoint, one at a time. It answers each
// (Respond, Error or Drop) before returning or hands it to a goroutine that
// will: a request never answered is never counted.
type Handler func(*Request)

// EndpointOption changes one setting of an endpoint.
type EndpointOption func(*endpointOptions)

type endpointOptions struct {
	subject      string
	queueGroup   string
	metadata     map[string]string
	pendingMsgs  int
	pendingBytes int
}

// WithSubject sets the endpoint's subject (below its group's prefix); its
// name when not set.
func WithSubject(subject string) EndpointOption {
	return func(o *endpointOptions) { o.subject = subject }
}

// WithQueueGroup serves the endpoint in queue group q instead of the
// service's.
func WithQueueGroup(q string) EndpointOption {
	return func(o *endpointOptions) { o.queueGroup = q }
}

// WithMetadata annotates the endpoint in INFO.
func WithMetadata(m map[string]string) EndpointOption {
	return func(o *endpointOptions) { o.metadata = maps.Clone(m) }
}

// WithPendingLimits bounds the requests (msgs) and bytes the endpoint's
// subscription buffers before its handler takes them; -1 is no limit. Past
// them requests are dropped: a slow consumer.
func WithPendingLimits(msgs, bytes int) EndpointOption {
	return func(o *endpointOptions) { o.pendingMsgs, o.pendingBytes = msgs, bytes }
}

// Group adds endpoints under a subject prefix.
type Group struct {
	service *Service
	prefix  string
}

// AddGroup returns a group whose endpoints' subjects start with prefix + ".".
func (s *Service) AddGroup(prefix string) *Group { return &Group{service: s, prefix: prefix} }

// AddEndpoint adds an endpoint on prefix.<subject>.
func (g *Group) AddEndpoint(name string, h Handler, opts ...EndpointOption) error {
	return g.service.addEndpoint(g.prefix, name, h, opts)
}

// AddEndpoint adds an endpoint named name (letters, digits, '-' and '_') on
// its subject (WithSubject; the name when not set).
func (s *Service) AddEndpoint(name string, h Handler, opts ...EndpointOption) error {
	return s.addEndpoint("", name, h, opts)
}

// endpoint is one endpoint and its statistics.
type endpoint struct {
	name       string
	subject    string
	queueGroup string
	metadata   map[string]string
	handler    Handler
	errors     func(subject string, err error)
	sub        *nats.Subscription

	mu         sync.Mutex
	requests   int
	failures   int
	lastError  string
	processing time.Duration
}

func (s *Service) addEndpoint(prefix, name string, h Handler, opts []EndpointOption) error {
	var o endpointOptions
	for _, opt := range opts {
		opt(&o)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: endpoint name %q: want letters, digits, '-' and '_'", micro.ErrConfigValidation, name)
	}
	if h == nil {
		return fmt.Errorf("%w: endpoint %s has no handler", micro.ErrConfigValidation, name)
	}
	subject := name
	if o.subject != "" {
		subject = o.subject
	}
	if prefix != "" {
		subject = prefix + "." + subject
	}
	e := &endpoint{name: name, subject: subject, queueGroup: o.queueGroup, metadata: o.metadata,
		handler: h, errors: s.config.ErrorHandler}
	if e.queueGroup == "" {
		e.queueGroup = s.config.QueueGroup
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("endpoint %s: service %s is stopped", name, s.config.Name)
	}
	sub, err := s.nc.QueueSubscribe(subject, e.queueGroup, func(m *nats.Msg) {
		e.handler(&Request{msg: m, endpoint: e, nc: s.nc, start: time.Now()})
	})
	if err != nil {
		return fmt.Errorf("endpoint %s on %q: %w", name, subject, err)
	}
	if o.pendingMsgs != 0 || o.pendingBytes != 0 {
		if err := sub.SetPendingLimits(o.pendingMsgs, o.pendingBytes); err != nil {
			_ = sub.Unsubscribe()
			return fmt.Errorf("endpoint %s: pending limits: %w", name, err)
		}
	}
	e.sub = sub
	s.live.Add(1)
	ended := make(chan struct{})
	end := sync.OnceFunc(func() { close(ended) })
	sub.SetClosedHandler(func(string) { end() })
	if !sub.IsValid() {
		end() // the connection closed before the handler was set
	}
	slow := sub.StatusChanged(nats.SubscriptionSlowConsumer)
	go func() {
		defer s.live.Done()
		e.watch(slow, ended)
	}()
	s.endpoints = append(s.endpoints, e)
	return nil
}

// watch reports the endpoint's slow-consumer episodes (nats.go reports one
// when it starts dropping, none again until a request gets through) until
// its subscription ended.
func (e *endpoint) watch(slow <-chan nats.SubStatus, ended <-chan struct{}) {
	for {
		select {
		case <-ended:
			return
		case st, ok := <-slow:
			if !ok {
				<-ended
				return
			}
			if st != nats.SubscriptionSlowConsumer {
				continue
			}
			e.fail(nats.ErrSlowConsumer.Error(), true)
			if e.errors != nil {
				e.errors(e.subject, nats.ErrSlowConsumer)
			}
		}
	}
}

// record counts one request answered after d; errText is its error, or ""
// for a success.
func (e *endpoint) record(d time.Duration, errText string) {
	e.mu.Lock()
	e.requests++
	e.processing += d
	if errText != "" {
		e.failures++
		e.lastError = errText
	}
	e.mu.Unlock()
}

// fail notes an error besides a request's own outcome: a slow consumer, or a
// reply that could not be sent; count says whether it adds to num_errors
// (not when the request was counted as an error already).
func (e *endpoint) fail(errText string, count bool) {
	e.mu.Lock()
	if count {
		e.failures++
	}
	e.lastError = errText
	e.mu.Unlock()
}

func (e *endpoint) stats() *micro.EndpointStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &micro.EndpointStats{Name: e.name, Subject: e.subject, QueueGroup: e.queueGroup,
		NumRequests: e.requests, NumErrors: e.failures, LastError: e.lastError, ProcessingTime: e.processing}
	if e.requests > 0 {
		st.AverageProcessingTime = e.processing / time.Duration(e.requests)
	}
	return st
}
