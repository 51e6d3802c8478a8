package writer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

const requestTimeout = 10 * time.Second

type running struct {
	store  *streams.Store
	cancel context.CancelFunc
	done   chan struct{}
	err    *error
}

// stop drains the writer and waits for Serve to return.
func (r running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		require.NoError(t, *r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("writer did not stop")
	}
}

// buggy is a test aggregate whose command fails with a plain error: a bug.
func buggy() aggregate.Definition[struct{}] {
	reg := codec.NewRegistry()
	type Happened struct{}
	codec.Register[Happened](reg, "Happened")
	return aggregate.Definition[struct{}]{Type: "buggy", Events: reg,
		Evolve: func(s struct{}, _ any) struct{} { return s },
		Commands: map[string]aggregate.Command[struct{}]{
			"explode": aggregate.Create[struct{}](func(struct{}) ([]any, error) { return nil, errors.New("secret internal detail") }),
			"start":   aggregate.Create[struct{}](func(struct{}) ([]any, error) { return []any{Happened{}}, nil }),
			"nothing": aggregate.Handle(func(struct{}, struct{}) ([]any, error) { return nil, nil }),
		}}
}

// gate is a test aggregate whose command blocks until released, to hold
// commands in flight.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    *sync.Once
}

func newGate() gate {
	return gate{entered: make(chan struct{}, 100), release: make(chan struct{}), once: new(sync.Once)}
}

// open releases every command held, once.
func (g gate) open() { g.once.Do(func() { close(g.release) }) }

func (g gate) definition() aggregate.Definition[struct{}] {
	reg := codec.NewRegistry()
	type Passed struct{}
	codec.Register[Passed](reg, "Passed")
	return aggregate.Definition[struct{}]{Type: "slow", Events: reg,
		Evolve: func(s struct{}, _ any) struct{} { return s },
		Commands: map[string]aggregate.Command[struct{}]{
			"pass": aggregate.Create[struct{}](func(struct{}) ([]any, error) {
				g.entered <- struct{}{}
				<-g.release
				return []any{Passed{}}, nil
			}),
		}}
}

func startWriter(t *testing.T, n *testkit.NATS, opts ...writer.Option) running {
	t.Helper()
	return startWriterWith(t, n, nil, opts...)
}

// startWriterWith starts a writer with the sample domains, the buggy test
// aggregate and, when given, more registered by extra.
func startWriterWith(t *testing.T, n *testkit.NATS, extra func(*writer.Writer) error, opts ...writer.Option) running {
	t.Helper()
	nc := n.Connect(nats.ReconnectBufSize(-1))
	ctx := context.Background()
	store, err := streams.Open(ctx, nc, streams.WithTimeout(2*time.Second))
	require.NoError(t, err)
	serving := make(chan struct{})
	w, err := writer.New(nc, store, append([]writer.Option{writer.WithWorkers(8), writer.WithTimeout(5 * time.Second),
		writer.WithLogger(slog.New(&signalOn{msg: "writer serving", ch: serving}))}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, writer.Register(w, account.Definition()))
	require.NoError(t, writer.Register(w, order.Definition()))
	require.NoError(t, writer.Register(w, product.Definition()))
	require.NoError(t, writer.Register(w, user.DefinitionWithCost(bcrypt.MinCost)))
	require.NoError(t, writer.Register(w, buggy()))
	if extra != nil {
		require.NoError(t, extra(w))
	}
	sctx, cancel := context.WithCancel(ctx)
	r := running{store: store, cancel: cancel, done: make(chan struct{}), err: new(error)}
	go func() {
		*r.err = w.Serve(sctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	// Ready once every endpoint of this writer is subscribed on the server
	// (its log says so, the flush carries the subscriptions; a test that
	// sets its own logger goes without) and the endpoints answer: another
	// writer's answer to the probe below proves nothing of this one's.
	select {
	case <-serving:
		require.NoError(t, nc.Flush())
	case <-time.After(10 * time.Second):
	case <-r.done:
	}
	client := n.Connect()
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := client.Request("cmd.account.open", []byte(`{}`), time.Second)
		return err == nil
	}, "writer endpoints")
	return r
}

type result struct {
	status int
	reply  writer.Reply
	code   string
	msg    string
	header nats.Header
	raw    string
}

func send(t *testing.T, nc *nats.Conn, subject string, body string) result {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), requestTimeout)
	require.NoError(t, err, "request %s", subject)
	r := result{status: 200, header: msg.Header, raw: string(msg.Data)}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		fmt.Sscan(code, &r.status)
		var e struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal(msg.Data, &e), "error body %s", msg.Data)
		r.code, r.msg = e.Error.Code, e.Error.Message
		assert.Equal(t, r.msg, msg.Header.Get("Nats-Service-Error"), "header and body say the same")
		return r
	}
	require.NoError(t, json.Unmarshal(msg.Data, &r.reply), "reply %s", msg.Data)
	return r
}

func ok(t *testing.T, nc *nats.Conn, subject, body string) writer.Reply {
	t.Helper()
	r := send(t, nc, subject, body)
	require.Equal(t, 200, r.status, "%s %s: %s %s", subject, body, r.code, r.msg)
	return r.reply
}

func streamMsgs(t *testing.T, store *streams.Store) uint64 {
	t.Helper()
	s, err := store.JetStream().Stream(context.Background(), "EVENTS")
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func events(t *testing.T, store *streams.Store, typ, id string) []streams.Recorded {
	t.Helper()
	ref, err := streams.NewRef(typ, id)
	require.NoError(t, err)
	var out []streams.Recorded
	for r, err := range store.Read(context.Background(), ref, streams.Position{}, streams.Until{}) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func TestSuccessReplyFollowsTheContract(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	r := ok(t, nc, "cmd.account.open", `{"aggregate_id":"acc-52","data":{"owner":"ada"}}`)
	assert.Equal(t, writer.Reply{AggregateID: "acc-52", Version: 1, Sequence: r.Sequence,
		Events: []writer.ReplyEvent{{Type: "AccountOpened", Version: 1, Sequence: r.Sequence}}}, r)
	r = ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"acc-52","expected_version":1,"data":{"amount":100}}`)
	assert.Equal(t, uint64(2), r.Version)
	evs := events(t, w.store, "account", "acc-52")
	require.Len(t, evs, 2)
	assert.Equal(t, r.Sequence, uint64(evs[1].Sequence))
	assert.Equal(t, "MoneyDeposited", evs[1].Type)
	assert.JSONEq(t, `{"amount":100}`, string(evs[1].Data))
}

func TestEveryErrorRowAndMalformedInput(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"acc-1","data":{"owner":"ada"}}`)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":30}}`)
	before := streamMsgs(t, w.store)

	long := strings.Repeat("a", 129)
	cases := []struct {
		name, subject, body string
		status              int
		code, msg           string
	}{
		{"not json", "cmd.account.deposit", `hello`, 400, "bad_request", "JSON object"},
		{"json array", "cmd.account.deposit", `[{"aggregate_id":"acc-1"}]`, 400, "bad_request", "JSON object"},
		{"empty body", "cmd.account.deposit", ``, 400, "bad_request", "empty body"},
		{"truncated json", "cmd.account.deposit", `{"aggregate_id":"acc-1"`, 400, "bad_request", "malformed JSON"},
		{"blank body", "cmd.account.deposit", " \n\t", 400, "bad_request", "empty body"},
		{"json null", "cmd.account.deposit", `null`, 400, "bad_request", "JSON object, got null"},
		{"json string", "cmd.account.deposit", `"acc-1"`, 400, "bad_request", "JSON object, got a string"},
		{"json number", "cmd.account.deposit", `42`, 400, "bad_request", "JSON object, got a number"},
		{"trailing content", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1}} {}`, 400, "bad_request", "after the JSON object"},
		{"aggregate_id null", "cmd.account.deposit", `{"aggregate_id":null,"data":{"amount":1}}`, 400, "bad_request", "aggregate_id is required"},
		{"field name in other case", "cmd.account.deposit", `{"AGGREGATE_ID":"acc-1","data":{"amount":1}}`, 400, "bad_request", `unknown field "AGGREGATE_ID"`},
		{"missing aggregate_id", "cmd.account.deposit", `{"data":{"amount":1}}`, 400, "bad_request", "aggregate_id is required"},
		{"aggregate_id number", "cmd.account.deposit", `{"aggregate_id":5}`, 400, "bad_request", "aggregate_id must be a string, got a number"},
		{"aggregate_id object", "cmd.account.deposit", `{"aggregate_id":{"id":"acc-1"}}`, 400, "bad_request", "aggregate_id must be a string, got an object"},
		{"unknown field", "cmd.account.deposit", `{"aggregate_id":"acc-1","amount":1}`, 400, "bad_request", `unknown field "amount"`},
		{"data not object", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":[1]}`, 400, "bad_request", "data must be a JSON object"},
		{"expected_version negative", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":-1,"data":{"amount":1}}`, 400, "bad_request", "expected_version must be a non-negative integer"},
		{"expected_version string", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":"2","data":{"amount":1}}`, 400, "bad_request", "expected_version must be a non-negative integer"},
		{"expected_version fraction", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":1.5,"data":{"amount":1}}`, 400, "bad_request", "expected_version must be a non-negative integer, got 1.5"},
		{"expected_version exponent", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":2e0,"data":{"amount":1}}`, 400, "bad_request", "expected_version must be a non-negative integer"},
		{"expected_version too big", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":99999999999999999999,"data":{"amount":1}}`, 400, "bad_request", "expected_version must be a non-negative integer"},
		{"command_id with space", "cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":"a b","data":{"amount":1}}`, 400, "bad_request", "[A-Za-z0-9_-]{1,128}"},
		{"command_id with dot", "cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":"a.b","data":{"amount":1}}`, 400, "bad_request", `command_id "a.b" must be 1 to 128 characters`},
		{"command_id empty", "cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":"","data":{"amount":1}}`, 400, "bad_request", "command_id"},
		{"command_id too long", "cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":"` + long + `","data":{"amount":1}}`, 400, "bad_request", "command_id"},
		{"command_id number", "cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":7,"data":{"amount":1}}`, 400, "bad_request", "command_id must be a string"},
		{"data string", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":"amount=1"}`, 400, "bad_request", "data must be a JSON object, got a string"},
		{"data absent", "cmd.account.deposit", `{"aggregate_id":"acc-1"}`, 400, "bad_request", "amount must be a positive integer, got 0"},
		{"data unknown field", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1,"note":"x"}}`, 400, "bad_request", `unknown field "note"`},
		{"id with dot", "cmd.account.deposit", `{"aggregate_id":"a.b","data":{"amount":1}}`, 400, "bad_request", `aggregate_id: invalid aggregate id "a.b"`},
		{"id star", "cmd.account.deposit", `{"aggregate_id":"*","data":{"amount":1}}`, 400, "bad_request", "invalid aggregate id"},
		{"id gt", "cmd.account.deposit", `{"aggregate_id":">","data":{"amount":1}}`, 400, "bad_request", "invalid aggregate id"},
		{"id space", "cmd.account.deposit", `{"aggregate_id":"a b","data":{"amount":1}}`, 400, "bad_request", "invalid aggregate id"},
		{"id empty", "cmd.account.deposit", `{"aggregate_id":"","data":{"amount":1}}`, 400, "bad_request", "must not be empty"},
		{"id too long", "cmd.account.deposit", `{"aggregate_id":"` + long + `","data":{"amount":1}}`, 400, "bad_request", "at most 128"},
		{"id non-ascii", "cmd.account.deposit", `{"aggregate_id":"계좌","data":{"amount":1}}`, 400, "bad_request", "invalid aggregate id"},
		{"amount negative", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":-5}}`, 400, "bad_request", "amount must be a positive integer, got -5"},
		{"amount zero", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":0}}`, 400, "bad_request", "got 0"},
		{"amount fraction", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1.5}}`, 400, "bad_request", `field "amount"`},
		{"amount string", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":"100"}}`, 400, "bad_request", `field "amount"`},
		{"amount 1e30", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1e30}}`, 400, "bad_request", `field "amount"`},
		{"amount huge", "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":99999999999999999999}}`, 400, "bad_request", `field "amount"`},
		{"not found", "cmd.account.deposit", `{"aggregate_id":"nobody","data":{"amount":1}}`, 404, "not_found", "account nobody does not exist"},
		{"expected_version mismatch", "cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":1,"data":{"amount":1}}`, 409, "conflict", "is at version 2, expected_version was 1"},
		{"create existing", "cmd.account.open", `{"aggregate_id":"acc-1","data":{"owner":"bob"}}`, 409, "conflict", "already exists"},
		{"rejected", "cmd.account.withdraw", `{"aggregate_id":"acc-1","data":{"amount":50}}`, 422, "rejected", "rejected: insufficient funds: balance 30, withdrawal 50"},
		{"rejected frozen", "cmd.account.unfreeze", `{"aggregate_id":"acc-1"}`, 422, "rejected", "rejected: account is not frozen"},
		{"internal", "cmd.buggy.explode", `{"aggregate_id":"b1"}`, 500, "internal", "internal error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, nc, c.subject, c.body)
			assert.Equal(t, c.status, r.status, r.raw)
			assert.Equal(t, c.code, r.code)
			assert.Contains(t, r.msg, c.msg)
			assert.Equal(t, fmt.Sprint(c.status), r.header.Get("Nats-Service-Error-Code"))
			assert.NotContains(t, r.raw, "secret internal detail", "a bug's details stay in the log")
		})
	}
	assert.Equal(t, before, streamMsgs(t, w.store), "nothing was appended")
	// Still serving.
	r := ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1}}`)
	assert.Equal(t, uint64(3), r.Version)
}

func TestUnavailableEventStoreIs503AndNothingIsClaimed(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"acc-1","data":{"owner":"ada"}}`)
	// JetStream goes away while core NATS keeps serving requests.
	require.NoError(t, n.Server().DisableJetStream())
	r := send(t, nc, "cmd.account.deposit", `{"aggregate_id":"acc-2","data":{"amount":1}}`)
	assert.Equal(t, 503, r.status, r.raw)
	assert.Equal(t, "unavailable", r.code)
	assert.Contains(t, r.msg, "cannot be reached")
	// With JetStream back (a restart on the same store), nothing is there.
	w.stop(t)
	n.Restart()
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	assert.Empty(t, events(t, store, "account", "acc-2"), "nothing was appended")
	assert.Len(t, events(t, store, "account", "acc-1"), 1)
}

func TestConcurrentDepositsThroughTwoWriters(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"hot","data":{"owner":"ada"}}`)
	const clients, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan string, clients*each)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := n.Connect()
			for i := range each {
				body := fmt.Sprintf(`{"aggregate_id":"hot","data":{"amount":%d}}`, c*100+i+1)
				msg, err := client.Request("cmd.account.deposit", []byte(body), requestTimeout)
				if err != nil {
					errs <- err.Error()
				} else if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
					errs <- string(msg.Data)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	evs := events(t, w.store, "account", "hot")
	require.Len(t, evs, 1+clients*each)
	var balance int64
	for i, e := range evs {
		require.Equal(t, streams.Version(i+1), e.Version)
		if e.Type == "MoneyDeposited" {
			var d account.MoneyDeposited
			require.NoError(t, json.Unmarshal(e.Data, &d))
			balance += d.Amount
		}
	}
	var want int64
	for c := range clients {
		for i := range each {
			want += int64(c*100 + i + 1)
		}
	}
	assert.Equal(t, want, balance)
}

func TestCommandIDIsIdempotent(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"idem","command_id":"c-open","data":{"owner":"ada"}}`)
	body := `{"aggregate_id":"idem","command_id":"c-dep-1","data":{"amount":10}}`
	first := send(t, nc, "cmd.account.deposit", body)
	require.Equal(t, 200, first.status)

	again := send(t, nc, "cmd.account.deposit", body)
	assert.Equal(t, first.raw, again.raw, "the first reply, byte for byte")
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"idem","data":{"amount":5}}`)
	later := send(t, nc, "cmd.account.deposit", body)
	assert.Equal(t, first.reply, later.reply, "also after later commands")

	w.stop(t)
	startWriter(t, n)
	restarted := send(t, nc, "cmd.account.deposit", body)
	assert.Equal(t, first.reply, restarted.reply, "also after a writer restart")
	assert.Len(t, events(t, w.store, "account", "idem"), 3, "open, deposit 10, deposit 5: nothing appended twice")

	reused := send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"idem","command_id":"c-dep-1","data":{"amount":1}}`)
	assert.Equal(t, 409, reused.status)
	assert.Contains(t, reused.msg, "already used for account.deposit")
}

func TestCommandIDRacingTwinsAppendOnce(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"twins","data":{"owner":"ada"}}`)
	const twins = 8
	replies := make([]result, twins)
	var wg sync.WaitGroup
	for i := range twins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := n.Connect()
			msg, err := client.Request("cmd.account.deposit", []byte(`{"aggregate_id":"twins","command_id":"same","data":{"amount":7}}`), requestTimeout)
			if assert.NoError(t, err) {
				replies[i] = result{raw: string(msg.Data), status: 200}
				if msg.Header.Get("Nats-Service-Error-Code") != "" {
					replies[i].status = 0
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range replies {
		assert.Equal(t, 200, r.status, r.raw)
		assert.JSONEq(t, replies[0].raw, r.raw)
	}
	assert.Len(t, events(t, w.store, "account", "twins"), 2)
}

func TestSeedOrderExampleYieldsSixEvents(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	for _, c := range [][2]string{
		{"place", `{"aggregate_id":"7dd8"}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":3}}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a","quantity":1}}`},
		{"remove_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a"}}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"a974","quantity":10}}`},
		{"change_quantity", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":5}}`},
	} {
		ok(t, nc, "cmd.order."+c[0], c[1])
	}
	var types []string
	for _, e := range events(t, w.store, "order", "7dd8") {
		types = append(types, e.Type)
	}
	assert.Equal(t, []string{"OrderPlaced", "OrderItemAdded", "OrderItemAdded", "OrderItemRemoved", "OrderItemAdded", "OrderItemQuantityChanged"}, types)
}

func TestUserPasswordNeverStoredOrReplied(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	const password = "very-secret-password-123"
	r := send(t, nc, "cmd.user.register", `{"aggregate_id":"u1","data":{"username":"Ada","password":"`+password+`"}}`)
	require.Equal(t, 200, r.status, r.raw)
	assert.NotContains(t, r.raw, password)
	for _, e := range events(t, w.store, "user", "u1") {
		assert.NotContains(t, string(e.Data), password)
		assert.Contains(t, string(e.Data), "password_hash")
	}
	taken := send(t, nc, "cmd.user.register", `{"aggregate_id":"u2","data":{"username":"ada","password":"`+password+`"}}`)
	assert.Equal(t, 409, taken.status)
	assert.Contains(t, taken.msg, `"ada" is already taken`)
	assert.NotContains(t, taken.raw, password)
}

func TestConcurrentRegistrationsOfOneUsernameOneWins(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	startWriter(t, n)
	const ids = 8
	statuses := make([]int, ids)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := send(t, n.Connect(), "cmd.user.register", fmt.Sprintf(`{"aggregate_id":"user-%d","data":{"username":"grace","password":"password-%d"}}`, i, i))
			statuses[i] = r.status
		}()
	}
	wg.Wait()
	wins := 0
	for i, s := range statuses {
		if s == 200 {
			wins++
			continue
		}
		assert.Equal(t, 409, s, "user-%d", i)
	}
	assert.Equal(t, 1, wins)
	total := 0
	for i := range ids {
		total += len(events(t, w.store, "user", fmt.Sprintf("user-%d", i)))
	}
	assert.Equal(t, 1, total)
}

// A writer that loses its connection never claims success for events that
// were not stored.
func TestLostConnectionNeverClaimsUnstoredSuccess(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"flaky","data":{"owner":"ada"}}`)

	type outcome struct {
		cid string
		ok  bool
	}
	var mu sync.Mutex
	var outcomes []outcome
	var successes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := n.Connect()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cid := fmt.Sprintf("c%d-%d", c, i)
				msg, err := client.Request("cmd.account.deposit", []byte(`{"aggregate_id":"flaky","command_id":"`+cid+`","data":{"amount":1}}`), time.Second)
				good := err == nil && msg.Header.Get("Nats-Service-Error-Code") == ""
				if good {
					successes.Add(1)
				}
				mu.Lock()
				outcomes = append(outcomes, outcome{cid: cid, ok: good})
				mu.Unlock()
			}
		}()
	}
	// Crash the server while commands flow, then wait for commands to
	// succeed again after the restart.
	testkit.Eventually(t, 10*time.Second, func() bool { return successes.Load() >= 20 }, "traffic before the crash")
	n.Restart()
	after := successes.Load()
	testkit.Eventually(t, 20*time.Second, func() bool { return successes.Load() >= after+20 }, "traffic after the restart")
	close(stop)
	wg.Wait()

	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	stored := map[string]int{}
	for _, e := range events(t, store, "account", "flaky") {
		stored[e.CommandID]++
	}
	for _, o := range outcomes {
		if o.ok {
			assert.Equal(t, 1, stored[o.cid], "command %s was answered with success: its event is stored once", o.cid)
		}
		assert.LessOrEqual(t, stored[o.cid], 1, "command %s stored at most once", o.cid)
	}
}

func TestDrainAnswersInFlightCommands(t *testing.T) {
	n := testkit.StartNATS(t)
	g := newGate()
	w := startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, g.definition()) })
	nc := n.Connect()
	const inflight = 5
	replies := make(chan *nats.Msg, inflight)
	for i := range inflight {
		go func() {
			msg, err := nc.Request("cmd.slow.pass", []byte(fmt.Sprintf(`{"aggregate_id":"s%d"}`, i)), requestTimeout)
			if err != nil {
				msg = nil
			}
			replies <- msg
		}()
	}
	for range inflight {
		<-g.entered // every command is being decided
	}
	w.cancel()
	select {
	case <-w.done:
		t.Fatal("Serve returned with commands in flight")
	default:
	}
	g.open()
	select {
	case <-w.done:
		require.NoError(t, *w.err)
	case <-time.After(30 * time.Second):
		t.Fatal("writer did not stop")
	}
	for range inflight {
		m := <-replies
		require.NotNil(t, m, "every in-flight command was answered")
		assert.Empty(t, m.Header.Get("Nats-Service-Error-Code"), string(m.Data))
	}
	for i := range inflight {
		assert.Len(t, events(t, w.store, "slow", fmt.Sprintf("s%d", i)), 1)
	}
	// The writer no longer serves: nobody answers.
	_, err := nc.Request("cmd.slow.pass", []byte(`{"aggregate_id":"late"}`), 200*time.Millisecond)
	assert.ErrorIs(t, err, nats.ErrNoResponders)
}

// The reply of a command_id is rebuilt from its stored events when it was
// never kept (the writer stopped between the append and keeping it).
func TestCommandIDWithoutKeptReplyIsRebuiltFromEvents(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"gap","data":{"owner":"ada"}}`)
	body := `{"aggregate_id":"gap","command_id":"gap-1","data":{"amount":10}}`
	first := ok(t, nc, "cmd.account.deposit", body)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"gap","data":{"amount":5}}`)

	js, err := jetstream.New(n.Connect())
	require.NoError(t, err)
	kv, err := js.KeyValue(context.Background(), writer.CommandsBucket)
	require.NoError(t, err)
	require.NoError(t, kv.Purge(context.Background(), "gap-1"))

	before := streamMsgs(t, w.store)
	assert.Equal(t, first, ok(t, nc, "cmd.account.deposit", body), "the first reply, rebuilt")
	assert.Equal(t, before, streamMsgs(t, w.store), "nothing appended")
	_, err = kv.Get(context.Background(), "gap-1")
	assert.NoError(t, err, "the rebuilt reply is kept")

	// Reused on another aggregate before the reply was kept: its event ids
	// collide, and the reply says why.
	require.NoError(t, kv.Purge(context.Background(), "gap-1"))
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"gap2","data":{"owner":"bob"}}`)
	r := send(t, nc, "cmd.account.deposit", `{"aggregate_id":"gap2","command_id":"gap-1","data":{"amount":10}}`)
	assert.Equal(t, 409, r.status, r.raw)
	assert.Contains(t, r.msg, "command_id gap-1 was already used")
}

func TestExpectedVersionMismatchWithTwinReturnsFirstReply(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"ev","data":{"owner":"ada"}}`)
	body := `{"aggregate_id":"ev","command_id":"ev-1","expected_version":1,"data":{"amount":3}}`
	first := ok(t, nc, "cmd.account.deposit", body)
	assert.Equal(t, first, ok(t, nc, "cmd.account.deposit", body))
	r := send(t, nc, "cmd.account.deposit", `{"aggregate_id":"ev","expected_version":1,"data":{"amount":3}}`)
	assert.Equal(t, 409, r.status)
	assert.Contains(t, r.msg, "account ev is at version 2, expected_version was 1")
}

func TestZeroEventsReplyCarriesCurrentPosition(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	started := ok(t, nc, "cmd.buggy.start", `{"aggregate_id":"z1"}`)
	before := streamMsgs(t, w.store)
	r := send(t, nc, "cmd.buggy.nothing", `{"aggregate_id":"z1","command_id":"z-1"}`)
	require.Equal(t, 200, r.status, r.raw)
	assert.JSONEq(t, fmt.Sprintf(`{"aggregate_id":"z1","version":1,"sequence":%d,"events":[]}`, started.Sequence), r.raw)
	assert.Equal(t, before, streamMsgs(t, w.store))
	assert.Equal(t, r.raw, send(t, nc, "cmd.buggy.nothing", `{"aggregate_id":"z1","command_id":"z-1"}`).raw)
}

func TestMetricsCountCommands(t *testing.T) {
	n := testkit.StartNATS(t)
	reg := prometheus.NewRegistry()
	startWriter(t, n, writer.WithMetrics(reg))
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"m1","data":{"owner":"ada"}}`)
	send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"m1","data":{"amount":5}}`)
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + ","
			}
			switch {
			case m.GetCounter() != nil:
				got[f.GetName()+"{"+labels+"}"] += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[f.GetName()+"{"+labels+"}"] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	assert.Equal(t, 1.0, got["jetsource_writer_commands_total{command=open,outcome=ok,type=account,}"], got)
	assert.Equal(t, 1.0, got["jetsource_writer_commands_total{command=withdraw,outcome=rejected,type=account,}"], got)
	assert.Equal(t, 1.0, got["jetsource_writer_events_appended_total{type=account,}"], got)
	assert.Equal(t, 1.0, got["jetsource_writer_command_seconds{command=withdraw,type=account,}"], got)
}

func FuzzCommandRequest(f *testing.F) {
	for _, s := range []string{`{"aggregate_id":"a"}`, `[]`, ``, `{"aggregate_id":"a.b"}`, `{"aggregate_id":"a","expected_version":1e99}`,
		`{"aggregate_id":"a","data":null}`, `{"aggregate_id":"a","command_id":"c-1","expected_version":3,"data":{"amount":100}}`,
		`{"aggregate_id":"a","aggregate_id":"*"}`, `{"Aggregate_Id":"a"}`, `{"aggregate_id":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := writer.DecodeRequest(body)
		if err != nil {
			var re *writer.RequestError
			require.True(t, errors.As(err, &re), "%T %v", err, err)
			require.Equal(t, writer.CodeBadRequest, re.Code)
			require.Equal(t, 400, re.Status)
			require.NotEmpty(t, re.Message)
			return
		}
		_, err = streams.NewRef("account", r.AggregateID)
		require.NoError(t, err, "a decoded id is always a valid subject token")
		if r.Data != nil {
			require.True(t, json.Valid(r.Data))
			require.Equal(t, byte('{'), r.Data[0])
		}
	})
}

// startBenchWriter starts a writer for a benchmark.
func startBenchWriter(b *testing.B, n *testkit.NATS, opts ...writer.Option) {
	b.Helper()
	nc := n.Connect(nats.ReconnectBufSize(-1))
	ctx, cancel := context.WithCancel(context.Background())
	store, err := streams.Open(ctx, nc)
	if err != nil {
		b.Fatal(err)
	}
	w, err := writer.New(nc, store, append([]writer.Option{writer.WithLogger(discardLogger())}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	for _, err := range []error{writer.Register(w, account.Definition()), writer.Register(w, order.Definition())} {
		if err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { _ = w.Serve(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	client := n.Connect()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := client.Request("cmd.account.open", []byte(`{}`), time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("writer not ready")
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// signalOn is a log handler that discards records and closes ch at the first
// record with message msg.
type signalOn struct {
	msg  string
	ch   chan struct{}
	once sync.Once
}

func (h *signalOn) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h *signalOn) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalOn) WithGroup(string) slog.Handler      { return h }
