package microsvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"
)

// Config describes a service, as micro.Config does.
type Config struct {
	// Name of the service: letters, digits, '-' and '_'.
	Name string
	// Version, SemVer.
	Version     string
	Description string
	Metadata    map[string]string
	// QueueGroup the endpoints are served in unless an endpoint names its
	// own; micro.DefaultQueueGroup when empty.
	QueueGroup string
	// ErrorHandler, when set, is called (on its own goroutine) when an
	// endpoint's subscription drops requests past its pending limits: err is
	// nats.ErrSlowConsumer, subject the endpoint's.
	ErrorHandler func(subject string, err error)
}

// Service is a running service. Build it with AddService, add endpoints,
// and Stop it.
type Service struct {
	nc     *nats.Conn
	config Config
	id     string
	ping   []byte

	mu        sync.Mutex
	endpoints []*endpoint
	verbSubs  []*nats.Subscription
	started   time.Time
	stopped   bool
	// live counts the endpoint subscriptions not yet ended; drained is
	// closed once Stop ran and it is zero.
	live    sync.WaitGroup
	drained chan struct{}
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// versionPattern is SemVer: major.minor.patch, optional pre-release and
	// build.
	versionPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// AddService starts a service on nc: it answers the control subjects of
// PING, INFO and STATS at once, and its endpoints once added. Invalid names
// or versions are refused with an error wrapping micro.ErrConfigValidation.
func AddService(nc *nats.Conn, config Config) (*Service, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", micro.ErrConfigValidation)
	}
	if !namePattern.MatchString(config.Name) {
		return nil, fmt.Errorf("%w: service name %q: want letters, digits, '-' and '_'", micro.ErrConfigValidation, config.Name)
	}
	if !versionPattern.MatchString(config.Version) {
		return nil, fmt.Errorf("%w: version %q of service %s is not SemVer (e.g. 1.2.3)", micro.ErrConfigValidation, config.Version, config.Name)
	}
	config.Metadata = maps.Clone(config.Metadata)
	if config.Metadata == nil {
		config.Metadata = map[string]string{}
	}
	if config.QueueGroup == "" {
		config.QueueGroup = micro.DefaultQueueGroup
	}
	s := &Service{nc: nc, config: config, id: nuid.Next(), drained: make(chan struct{})}
	s.ping, _ = json.Marshal(micro.Ping{ServiceIdentity: s.identity(), Type: micro.PingResponseType})
	answers := map[micro.Verb]func() any{
		micro.PingVerb:  nil, // constant: s.ping
		micro.InfoVerb:  func() any { return s.Info() },
		micro.StatsVerb: func() any { return s.Stats() },
	}
	for verb, answer := range answers {
		for _, kind := range [][2]string{{"", ""}, {config.Name, ""}, {config.Name, s.id}} {
			subject, err := micro.ControlSubject(verb, kind[0], kind[1])
			if err == nil {
				err = s.subscribeVerb(subject, answer)
			}
			if err != nil {
				_ = s.Stop()
				return nil, fmt.Errorf("service %s: control subject: %w", config.Name, err)
			}
		}
	}
	s.mu.Lock()
	s.started = time.Now().UTC()
	s.mu.Unlock()
	return s, nil
}

func (s *Service) subscribeVerb(subject string, answer func() any) error {
	sub, err := s.nc.Subscribe(subject, func(m *nats.Msg) {
		body := s.ping
		if answer != nil {
			body, _ = json.Marshal(answer())
		}
		_ = m.Respond(body)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.verbSubs = append(s.verbSubs, sub)
	s.mu.Unlock()
	return nil
}

// ID is the service instance's id, as its PING, INFO and STATS report it.
func (s *Service) ID() string { return s.id }

func (s *Service) identity() micro.ServiceIdentity {
	return micro.ServiceIdentity{Name: s.config.Name, ID: s.id, Version: s.config.Version, Metadata: maps.Clone(s.config.Metadata)}
}

// Info is what $SRV.INFO answers.
func (s *Service) Info() micro.Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	endpoints := make([]micro.EndpointInfo, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		endpoints = append(endpoints, micro.EndpointInfo{Name: e.name, Subject: e.subject,
			QueueGroup: e.queueGroup, Metadata: maps.Clone(e.metadata)})
	}
	return micro.Info{ServiceIdentity: s.identity(), Type: micro.InfoResponseType,
		Description: s.config.Description, Endpoints: endpoints}
}

// Stats is what $SRV.STATS answers: per endpoint, the requests answered
// (or dropped) so far, with their processing time from the handler's call
// to the answer.
func (s *Service) Stats() micro.Stats {
	s.mu.Lock()
	endpoints := make([]*micro.EndpointStats, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		endpoints = append(endpoints, e.stats())
	}
	started := s.started
	s.mu.Unlock()
	return micro.Stats{ServiceIdentity: s.identity(), Type: micro.StatsResponseType, Started: started, Endpoints: endpoints}
}

// Stop drains the service's subscriptions: the server sends no more
// requests, those already received are still handed to the handlers, and
// answers given later are still counted. It does not wait for the drain:
// Drained does. A closed connection is no error.
func (s *Service) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	var errs []error
	for _, e := range s.endpoints {
		errs = append(errs, drain(e.sub))
	}
	for _, sub := range s.verbSubs {
		errs = append(errs, drain(sub))
	}
	s.mu.Unlock()
	go func() {
		s.live.Wait()
		close(s.drained)
	}()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop service %s: %w", s.config.Name, err)
	}
	return nil
}

func drain(sub *nats.Subscription) error {
	if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("drain %s: %w", sub.Subject, err)
	}
	return nil
}

// Stopped reports whether Stop was called.
func (s *Service) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// Drained is closed once Stop was called and every endpoint subscription
// has ended (drained, or its connection closed): every request the service
// received has been handed to its handler, and the handler returned.
func (s *Service) Drained() <-chan struct{} { return s.drained }

// AwaitDrained waits at most timeout for Drained, and reports whether it came.
func (s *Service) AwaitDrained(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.drained:
		return true
	case <-t.C:
		return false
	}
}
