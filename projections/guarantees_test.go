package projections_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// runnerWith returns a runner of the sample projections and extra.
func (e *env) runnerWith(extra []projections.Projection, opts ...projections.Option) *projections.Runner {
	e.t.Helper()
	opts = append([]projections.Option{projections.WithFetchWait(50 * time.Millisecond)}, opts...)
	r, err := projections.NewRunner(e.js, e.rdb, append(samples.Projections(), extra...), opts...)
	require.NoError(e.t, err)
	return r
}

// foldAccounts folds every account event of the stream, read straight from
// JetStream, into the accounts they make.
func (e *env) foldAccounts() map[string]account.View {
	e.t.Helper()
	reg := account.Events()
	out := map[string]account.View{}
	e.fold("events.account.>", func(ev streams.Recorded) {
		a := out[ev.Ref.ID()]
		a.ID, a.Version = ev.Ref.ID(), uint64(ev.Version)
		switch d := must(reg.Decode(ev.Type, ev.Schema, ev.Data)).(type) {
		case account.AccountOpened:
			a.Owner = d.Owner
		case account.MoneyDeposited:
			a.Balance += d.Amount
		case account.MoneyWithdrawn:
			a.Balance -= d.Amount
		}
		out[a.ID] = a
	})
	return out
}

// assertAccountsAreTheFold checks every account of the read model against
// the fold of the stream.
func (e *env) assertAccountsAreTheFold() {
	e.t.Helper()
	want := e.foldAccounts()
	got, _, err := projections.Read(context.Background(), e.rdb, account.ProjectionName, func(ctx context.Context, v *projections.View) ([]account.View, error) {
		return account.List(ctx, v, len(want)+1, "")
	})
	require.NoError(e.t, err)
	have := map[string]account.View{}
	for _, a := range got {
		have[a.ID] = a
	}
	assert.Equal(e.t, want, have)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestProjectionNeverSkipsAnEventAStrayClientPulled(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	start(t, e.runner(projections.WithBatchSize(5), projections.WithMetrics(reg)))
	stopTraffic := make(chan struct{})
	wg := traffic(e, 10, stopTraffic)

	// A stray client pulls on every consumer of the projector while events
	// flow, and never acknowledges what it took.
	js, err := jetstream.New(e.nats.Connect())
	require.NoError(t, err)
	ctx := context.Background()
	stream, err := js.Stream(ctx, "EVENTS")
	require.NoError(t, err)
	taken := map[string]int{}
	testkit.Eventually(t, 30*time.Second, func() bool {
		for name := range stream.ConsumerNames(ctx).Name() {
			if !strings.HasPrefix(name, "jetsource_proj_") {
				continue
			}
			cons, err := stream.Consumer(ctx, name)
			if err != nil {
				continue
			}
			batch, err := cons.Fetch(3, jetstream.FetchMaxWait(100*time.Millisecond))
			if err != nil {
				continue
			}
			for range batch.Messages() {
				taken[name]++
			}
		}
		return taken["jetsource_proj_accounts"] > 0
	}, "the stray client takes account events")
	close(stopTraffic)
	wg.Wait()
	e.caughtUp()
	e.assertAccountsAreTheFold()
	assert.Positive(t, counted(t, reg, "jetsource_projection_gaps_total", account.ProjectionName), "gaps counted")
}

// counted returns the value of the counter metric of projection name.
func counted(t *testing.T, reg *prometheus.Registry, metric, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projection" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// logRecorder keeps the runner's log records, each as its message and
// attributes.
type logRecorder struct {
	mu      sync.Mutex
	records []map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, rec)
	return nil
}

// find returns the first record with message msg.
func (l *logRecorder) find(msg string) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// failing is a projection of account events whose Apply runs fail on the
// events of account "bad" and counts those calls.
func failing(name string, calls *atomic.Int64, fail func() error) projections.Projection {
	return projections.Projection{Name: name, Subjects: []string{"events.account.>"},
		Apply: func(ctx context.Context, tx *projections.Tx, ev streams.Recorded) error {
			if ev.Ref.ID() == "bad" {
				calls.Add(1)
				if err := fail(); err != nil {
					return err
				}
			}
			tx.HSet(ctx, tx.Keys.Key("seen", ev.Ref.ID()), "version", uint64(ev.Version))
			return nil
		}}
}

// waitFailed waits until projection name says failed, and returns its status.
func (e *env) waitFailed(name string) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	testkit.Eventually(e.t, 30*time.Second, func() bool {
		s, _ := projections.Status(ctx, e.rdb, name)
		return s["state"] == "failed"
	}, "projection %s fails", name)
	s, err := projections.Status(ctx, e.rdb, name)
	require.NoError(e.t, err)
	return s
}

func TestPanicInApplyIsAPoisonEventAndTheProcessKeepsRunning(t *testing.T) {
	e := newEnv(t)
	logs := &logRecorder{}
	var calls atomic.Int64
	boom := failing("boom", &calls, func() error { panic("handler bug") })
	start(t, e.runnerWith([]projections.Projection{boom}, projections.WithMaxRetries(2), projections.WithRetryBackoff(5*time.Millisecond), projections.WithLogger(slog.New(logs))))
	e.add("account", "ok", account.AccountOpened{Owner: "o"})
	bad := e.add("account", "bad", account.AccountOpened{Owner: "b"})

	s := e.waitFailed("boom")
	assert.Equal(t, fmt.Sprint(bad), s["sequence"])
	assert.Equal(t, "events.account.bad", s["subject"])
	assert.Equal(t, "AccountOpened", s["type"])
	assert.Contains(t, s["error"], "panic")
	assert.Contains(t, s["error"], "handler bug")
	assert.Equal(t, int64(3), calls.Load(), "the first attempt and 2 retries")
	logged := logs.find("projection handler panicked")
	require.NotNil(t, logged)
	assert.Equal(t, fmt.Sprint(bad), logged["sequence"])
	assert.Contains(t, logged["stack"], "runtime/debug.Stack", "the stack is logged")

	// The process keeps running: the other projections carry on.
	e.add("account", "after", account.AccountOpened{Owner: "a"})
	e.caughtUp()
	e.assertAccountsAreTheFold()
}

func TestPoisonEventStopsItsProjectionWhenRetriesOutliveTheLease(t *testing.T) {
	// The retries (50+100+200+400+800 ms with the default 5) outlive the
	// lease (1 s): the lease is renewed while retrying. (A shorter lease
	// lapsed on a machine loaded far past its cores, renewals coming late:
	// the runner restarted and applied the poison again.)
	for name, tc := range map[string]struct {
		maxRetries int
		calls      int64
	}{
		"zero means the default": {0, 1 + projections.DefaultMaxRetries},
		"negative means none":    {projections.NoRetries, 1},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var calls atomic.Int64
			poison := failing("poison", &calls, func() error { return errors.New("cannot apply") })
			start(t, e.runnerWith([]projections.Projection{poison}, projections.WithMaxRetries(tc.maxRetries), projections.WithRetryBackoff(50*time.Millisecond), projections.WithLeaseTTL(time.Second)))
			e.add("account", "ok", account.AccountOpened{Owner: "o"})
			bad := e.add("account", "bad", account.AccountOpened{Owner: "b"})

			s := e.waitFailed("poison")
			assert.Equal(t, fmt.Sprint(bad), s["sequence"])
			assert.Equal(t, "cannot apply", s["error"])
			assert.Equal(t, tc.calls, calls.Load())
		})
	}
}

// forge publishes an event straight to the stream, past the writer and its
// version checks, and returns its sequence.
func (e *env) forge(id string, version int, ev any) uint64 {
	e.t.Helper()
	enc, err := account.Events().Encode(ev)
	require.NoError(e.t, err)
	msg := nats.NewMsg("events.account." + id)
	msg.Header.Set(streams.HeaderMsgID, nuid.Next())
	msg.Header.Set(streams.HeaderType, enc.Type)
	msg.Header.Set(streams.HeaderVersion, fmt.Sprint(version))
	msg.Data = enc.Data
	ack, err := e.js.PublishMsg(context.Background(), msg)
	require.NoError(e.t, err)
	return ack.Sequence
}

func TestEventBreakingItsVersionSequenceIsPoisonForEveryProjectionThatSeesIt(t *testing.T) {
	for name, tc := range map[string]struct {
		before  int // events of the account before the forged one
		version int
		message string
	}{
		"repeated":    {3, 3, "version 3 of events.account.f1 follows version 3, not 4"},
		"skipped":     {3, 5, "version 5 of events.account.f1 follows version 3, not 4"},
		"first not 1": {0, 2, "the first event of events.account.f1 has version 2, not 1"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var calls atomic.Int64
			audit := failing("audit", &calls, func() error { return nil })
			start(t, e.runnerWith([]projections.Projection{audit}))
			e.add("account", "ok", account.AccountOpened{Owner: "o"})
			if tc.before > 0 {
				evs := []any{account.AccountOpened{Owner: "f"}}
				for range tc.before - 1 {
					evs = append(evs, account.MoneyDeposited{Amount: 10})
				}
				e.add("account", "f1", evs...)
			}
			forged := e.forge("f1", tc.version, account.MoneyDeposited{Amount: 1000})
			for _, name := range []string{account.ProjectionName, "audit"} {
				s := e.waitFailed(name)
				assert.Equal(t, fmt.Sprint(forged), s["sequence"], name)
				assert.Equal(t, "events.account.f1", s["subject"], name)
				assert.Equal(t, "MoneyDeposited", s["type"], name)
				assert.Contains(t, s["error"], tc.message, name)
			}
			a, _, err := getAccount(context.Background(), e.rdb, "f1")
			if tc.before == 0 {
				require.ErrorIs(t, err, projections.ErrNotFound, "never applied")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, int64(10*(tc.before-1)), a.Balance, "never applied")
			assert.Equal(t, uint64(tc.before), a.Version)
		})
	}
}

// checkpointReaches waits until the current generation of the accounts
// projection has a checkpoint at or past seq.
func (e *env) checkpointReaches(seq streams.Sequence) {
	e.t.Helper()
	testkit.Eventually(e.t, 30*time.Second, func() bool {
		_, cp, err := getAccount(context.Background(), e.rdb, "a0")
		return err == nil && cp >= uint64(seq)
	}, "the accounts checkpoint reaches %d", seq)
}

// generationOf returns the current generation of projection name.
func (e *env) generationOf(name string) int64 {
	e.t.Helper()
	g, err := e.rdb.Get(context.Background(), projections.KeysOf(name).Generation()).Int64()
	require.NoError(e.t, err)
	return g
}

func TestLostCheckpointRebuildsIntoAFreshGeneration(t *testing.T) {
	e := newEnv(t)
	var last streams.Sequence
	for i := range 10 {
		last = e.add("account", fmt.Sprintf("a%d", i), account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: int64(i + 1)})
	}
	start(t, e.runner())
	e.caughtUp()
	before := e.dump(account.ProjectionName)
	ctx := context.Background()
	keys := projections.KeysOf(account.ProjectionName)

	// Lost while the runner is idle: it notices by itself.
	gen := e.generationOf(account.ProjectionName)
	require.NoError(t, e.rdb.Del(ctx, keys.Checkpoint(gen)).Err())
	e.checkpointReaches(last)
	assert.Greater(t, e.generationOf(account.ProjectionName), gen, "a fresh generation")
	assert.Equal(t, before, e.dump(account.ProjectionName))

	// Lost, then an event arrives: nothing is counted twice.
	require.NoError(t, e.rdb.Del(ctx, keys.Checkpoint(e.generationOf(account.ProjectionName))).Err())
	last = e.add("account", "a0", account.MoneyDeposited{Amount: 100})
	e.checkpointReaches(last)
	e.assertAccountsAreTheFold()
	old, err := e.rdb.Keys(ctx, keys.Gen(gen)+"*").Result()
	require.NoError(t, err)
	assert.Empty(t, old, "the old generation is deleted")
}

func TestProjectionWithNothingToApplyKeepsItsGenerationAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	e.add("account", "a0", account.AccountOpened{Owner: "o"})
	// No order event: the orders projection records its checkpoint 0 and
	// how far it reached, and no model.
	stop := start(t, e.runner())
	e.caughtUp()
	stop()
	start(t, e.runner())
	e.add("account", "a0", account.MoneyDeposited{Amount: 1})
	e.caughtUp()
	assert.Equal(t, int64(1), e.generationOf(order.ProjectionName),
		"a checkpoint 0 with nothing applied is no lost checkpoint: no fresh generation")
}
