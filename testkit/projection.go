package testkit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// catchUpTimeout bounds how long a projection fixture waits for its
// projection to apply the given events.
const catchUpTimeout = 30 * time.Second

// ProjectionFixture is a given/then test of one projection against a real
// embedded nats-server and a private redis-server: given events appended to
// the event store, then what the projection's queries answer (or what its
// keys hold) once the projection applied them.
//
//	testkit.Projection(t, account.Projection(), account.Events()).
//		Given("account", "acc-1", account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 5}).
//		Then(account.Queries()[0], `{"id":"acc-1"}`, `{"id":"acc-1","owner":"ada","balance":5,"frozen":false,"version":2}`)
type ProjectionFixture struct {
	t         testing.TB
	p         projections.Projection
	events    *codec.Registry
	store     *streams.Store
	rdb       *redis.Client
	positions map[streams.Ref]streams.Position
	last      streams.Sequence
	running   bool
}

// Projection starts the servers and returns the fixture of p, whose events
// events encodes.
func Projection(t testing.TB, p projections.Projection, events *codec.Registry) *ProjectionFixture {
	t.Helper()
	n := StartNATS(t)
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	return &ProjectionFixture{t: t, p: p, events: events, store: store, rdb: StartRedis(t).Client(t),
		positions: map[streams.Ref]streams.Position{}}
}

// Given appends events to aggregate typ/id, encoded with the fixture's
// registry, after those given before.
func (f *ProjectionFixture) Given(typ, id string, events ...any) *ProjectionFixture {
	f.t.Helper()
	ref, err := streams.NewRef(typ, id)
	require.NoError(f.t, err)
	out := make([]streams.Event, len(events))
	for i, e := range events {
		enc, err := f.events.Encode(e)
		require.NoError(f.t, err, "given event %d (%T)", i, e)
		out[i] = streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}
	}
	res, err := f.store.Append(context.Background(), ref, f.positions[ref], out)
	require.NoError(f.t, err)
	f.positions[ref], f.last = res.Position, res.Position.Sequence
	return f
}

// caughtUp runs the projection (once) and waits until it applied every
// given event.
func (f *ProjectionFixture) caughtUp() {
	f.t.Helper()
	if !f.running {
		r, err := projections.NewRunner(f.store.JetStream(), f.rdb, []projections.Projection{f.p},
			projections.WithFetchWait(50*time.Millisecond), projections.WithMaxRetries(projections.NoRetries),
			// A failure is reported through the status; the log stays quiet.
			projections.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		require.NoError(f.t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		f.t.Cleanup(func() { cancel(); <-done })
		f.running = true
	}
	Eventually(f.t, catchUpTimeout, func() bool {
		if s, _ := projections.Status(context.Background(), f.rdb, f.p.Name); s["state"] == "failed" {
			f.t.Fatalf("testkit: projection %s failed at sequence %s: %s", f.p.Name, s["sequence"], s["error"])
		}
		r, err := projections.Reached(context.Background(), f.rdb, f.p.Name)
		return err == nil && r >= uint64(f.last)
	}, "testkit: projection %s applies the given events (up to sequence %d)", f.p.Name, f.last)
}

// Answer returns what query q answers with params (a JSON object) once the
// projection applied every given event, and the checkpoint it reflects.
func (f *ProjectionFixture) Answer(q reader.Query, params string) (any, uint64, error) {
	f.t.Helper()
	f.caughtUp()
	p, err := q.Decode(json.RawMessage(params))
	if err != nil {
		return nil, 0, err
	}
	return projections.Read(context.Background(), f.rdb, q.Projection, func(ctx context.Context, v *projections.View) (any, error) {
		return q.Read(ctx, v, p)
	})
}

// Then checks that q answers params with want, compared as JSON.
func (f *ProjectionFixture) Then(q reader.Query, params, want string) *ProjectionFixture {
	f.t.Helper()
	got, _, err := f.Answer(q, params)
	if !assert.NoError(f.t, err, "query %s %s", q.Subject(), params) {
		return f
	}
	b, err := json.Marshal(got)
	require.NoError(f.t, err)
	assert.JSONEq(f.t, want, string(b), "query %s %s", q.Subject(), params)
	return f
}

// ThenError checks that q answers params with an error matching target
// (errors.Is), e.g. projections.ErrNotFound.
func (f *ProjectionFixture) ThenError(q reader.Query, params string, target error) *ProjectionFixture {
	f.t.Helper()
	_, _, err := f.Answer(q, params)
	assert.ErrorIs(f.t, err, target, "query %s %s", q.Subject(), params)
	return f
}
