package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/streams"
)

// DefaultTimeout bounds a command or query request when Client.Timeout is
// zero.
const DefaultTimeout = 5 * time.Second

// DefaultPollEvery is how often Rebuild reads the progress of a rebuild
// when Client.PollEvery is zero.
const DefaultPollEvery = 250 * time.Millisecond

// ErrNoRedis means an operation that reads the projections' Redis ran on a
// Client without one.
var ErrNoRedis = errors.New("admin: no Redis connection (set redis.url or REDIS_URL)")

// Client runs the operations of an operator on one deployment. NATS and
// Store are required; Redis only for Projections and Rebuild.
type Client struct {
	// NATS carries commands, queries and rebuild requests.
	NATS *nats.Conn
	// Store is the deployment's event store.
	Store *streams.Store
	// Redis holds the projections' read models and checkpoints.
	Redis redis.UniversalClient
	// Aggregates loads the state of each registered aggregate type.
	Aggregates Aggregates
	// ProjectionNames names the deployment's projections, in the order to show
	// them.
	ProjectionNames []string
	// ProjectionStreams maps each projection to the event stream it
	// follows, in a deployment of several streams (nil: every projection
	// follows Store.StreamName()).
	ProjectionStreams map[string]string
	// Deployment is the deployment's name (deployment.name), which names
	// its projectors' consumers.
	Deployment string
	// RebuildSubject is the prefix of the projectors' rebuild requests
	// (service.RebuildSubjectOf of the deployment's name).
	RebuildSubject string
	// Timeout bounds each command, query and store request; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// PollEvery is the pace of Rebuild's progress reads; zero means
	// DefaultPollEvery.
	PollEvery time.Duration
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) pollEvery() time.Duration {
	if c.PollEvery > 0 {
		return c.PollEvery
	}
	return DefaultPollEvery
}

// LastSequence returns the sequence of the last event of the whole stream
// (of the first stream in a deployment of several).
func (c *Client) LastSequence(ctx context.Context) (uint64, error) {
	return c.lastSequenceOf(ctx, c.Store.StreamName())
}

// streamOf is the event stream projection name follows.
func (c *Client) streamOf(name string) string {
	if s, ok := c.ProjectionStreams[name]; ok {
		return s
	}
	return c.Store.StreamName()
}

func (c *Client) lastSequenceOf(ctx context.Context, stream string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	s, err := c.Store.JetStream().Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return info.State.LastSeq, nil
}
