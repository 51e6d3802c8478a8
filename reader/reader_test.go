package reader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// world is an embedded nats-server with a writer serving the sample domains,
// a private Redis, and the clients' connection. Projections and readers are
// started by the test, so that it can start them late or stop them early.
type world struct {
	t     *testing.T
	n     *testkit.NATS
	rdb   *redis.Client
	store *streams.Store
	nc    *nats.Conn
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, n: testkit.StartNATS(t)}
	w.rdb = testkit.StartRedis(t).Client(t)
	wnc := w.n.Connect(nats.ReconnectBufSize(-1))
	var err error
	w.store, err = streams.Open(context.Background(), wnc)
	require.NoError(t, err)
	wr, err := writer.New(wnc, w.store)
	require.NoError(t, err)
	require.NoError(t, writer.Register(wr, account.Definition()))
	require.NoError(t, writer.Register(wr, order.Definition()))
	require.NoError(t, writer.Register(wr, product.Definition()))
	require.NoError(t, writer.Register(wr, user.DefinitionWithCost(bcrypt.MinCost)))
	w.background(wr.Serve)
	w.nc = w.n.Connect()
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := w.nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		return err == nil
	}, "writer up")
	return w
}

// background runs serve until stop is called or the test ends; stop waits
// for serve to return.
func (w *world) background(serve func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = serve(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	w.t.Cleanup(stop)
	return stop
}

// project starts the projection runner of the sample projections.
func (w *world) project() (stop func()) {
	r, err := projections.NewRunner(w.store.JetStream(), w.rdb, samples.Projections(), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(w.t, err)
	return w.background(r.Run)
}

// lastSequence is the reader's LastSequence option for the world's stream.
func (w *world) lastSequence() func(context.Context) (uint64, error) {
	return reader.LastSequenceOf(w.store.JetStream(), w.store.StreamName())
}

// served is a reader serving on its own connection.
type served struct {
	*reader.Reader
	stop context.CancelFunc // stops it
	done chan struct{}      // closed when Serve returned err
	err  error
}

// serve starts a reader, set up by setup first, and waits until it answers.
func (w *world) serve(opts []reader.Option, setup ...func(*reader.Reader)) *served {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{Reader: reader.New(w.n.Connect(), w.rdb, opts...), stop: cancel, done: make(chan struct{})}
	for _, d := range samples.Domains() {
		require.NoError(w.t, s.Register(d.Queries...))
	}
	for _, f := range setup {
		f(s.Reader)
	}
	go func() { s.err = s.Serve(ctx); close(s.done) }()
	w.t.Cleanup(func() {
		cancel()
		<-s.done
	})
	// Asked of user_get, so that the tests count their own account_get
	// requests (see handled).
	testkit.Eventually(w.t, 10*time.Second, func() bool {
		_, err := w.nc.Request("query.user.get", []byte(`{}`), time.Second)
		return err == nil
	}, "reader up")
	return s
}

// platform starts a writer, a projection runner and a reader on one embedded
// server and a private Redis.
func platform(t *testing.T) *nats.Conn {
	t.Helper()
	w := newWorld(t)
	w.project()
	w.serve([]reader.Option{reader.WithLastSequence(w.lastSequence())})
	return w.nc
}

type answer struct {
	status   int
	code     string
	message  string
	data     json.RawMessage
	sequence uint64
}

func ask(t *testing.T, nc *nats.Conn, subject string, body string) answer {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 10*time.Second)
	require.NoError(t, err)
	return answerOf(t, msg)
}

// askLater sends a query and hands its reply over when it comes.
func askLater(nc *nats.Conn, subject string, body string) <-chan *nats.Msg {
	reply := make(chan *nats.Msg, 1)
	go func() {
		msg, err := nc.Request(subject, []byte(body), 30*time.Second)
		if err != nil {
			msg = &nats.Msg{Header: nats.Header{micro.ErrorCodeHeader: {"0"}},
				Data: fmt.Appendf(nil, `{"error":{"code":"no reply","message":%q}}`, err.Error())}
		}
		reply <- msg
	}()
	return reply
}

func answerOf(t *testing.T, msg *nats.Msg) answer {
	t.Helper()
	a := answer{status: 200}
	if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
		fmt.Sscan(c, &a.status)
		var e struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal(msg.Data, &e), string(msg.Data))
		a.code, a.message = e.Error.Code, e.Error.Message
		return a
	}
	var ok struct {
		Data     json.RawMessage `json:"data"`
		Sequence *uint64         `json:"sequence"`
	}
	require.NoError(t, json.Unmarshal(msg.Data, &ok), string(msg.Data))
	require.NotNil(t, ok.Sequence, "reply has a sequence: %s", msg.Data)
	a.data, a.sequence = ok.Data, *ok.Sequence
	return a
}

func command(t *testing.T, nc *nats.Conn, subject, body string) writer.Reply {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 10*time.Second)
	require.NoError(t, err)
	require.Empty(t, msg.Header.Get(micro.ErrorCodeHeader), string(msg.Data))
	var r writer.Reply
	require.NoError(t, json.Unmarshal(msg.Data, &r))
	return r
}

func TestReadYourWrites(t *testing.T) {
	nc := platform(t)
	command(t, nc, "cmd.account.open", `{"aggregate_id":"ryw","data":{"owner":"ada"}}`)
	var balance int64
	for i := 1; i <= 30; i++ {
		r := command(t, nc, "cmd.account.deposit", fmt.Sprintf(`{"aggregate_id":"ryw","data":{"amount":%d}}`, i))
		balance += int64(i)
		a := ask(t, nc, "query.account.get", fmt.Sprintf(`{"id":"ryw","min_sequence":%d}`, r.Sequence))
		require.Equal(t, 200, a.status, a.message)
		var acc account.View
		require.NoError(t, json.Unmarshal(a.data, &acc))
		require.Equal(t, balance, acc.Balance, "write %d is visible", i)
		require.Equal(t, r.Version, acc.Version)
		require.GreaterOrEqual(t, a.sequence, r.Sequence)
	}
	// The account JSON uses numbers for numbers.
	a := ask(t, nc, "query.account.get", `{"id":"ryw"}`)
	assert.JSONEq(t, fmt.Sprintf(`{"id":"ryw","owner":"ada","balance":%d,"frozen":false,"version":31}`, balance), string(a.data))
}

func TestUnreachableMinSequenceIsStaleWithinWait(t *testing.T) {
	nc := platform(t)
	command(t, nc, "cmd.account.open", `{"aggregate_id":"s1","data":{"owner":"ada"}}`)
	a := ask(t, nc, "query.account.get", `{"id":"s1","min_sequence":1000000,"wait_ms":150}`)
	assert.Equal(t, 503, a.status)
	assert.Equal(t, "stale", a.code)
	assert.Contains(t, a.message, "not 1000000")
}

func TestQueriesOfTheSampleDomains(t *testing.T) {
	nc := platform(t)
	var last uint64
	for _, c := range [][2]string{
		{"cmd.order.place", `{"aggregate_id":"7dd8"}`},
		{"cmd.order.add_item", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":3}}`},
		{"cmd.order.add_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a","quantity":1}}`},
		{"cmd.order.remove_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a"}}`},
		{"cmd.order.add_item", `{"aggregate_id":"7dd8","data":{"item_id":"a974","quantity":10}}`},
		{"cmd.order.change_quantity", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":5}}`},
		{"cmd.product.register", `{"aggregate_id":"pen","data":{"name":"Pen"}}`},
		{"cmd.product.receive_stock", `{"aggregate_id":"pen","data":{"quantity":4}}`},
		{"cmd.product.register", `{"aggregate_id":"ink","data":{"name":"Ink"}}`},
		{"cmd.product.register", `{"aggregate_id":"pad","data":{"name":"Pad"}}`},
		{"cmd.product.receive_stock", `{"aggregate_id":"pad","data":{"quantity":40}}`},
		{"cmd.user.register", `{"aggregate_id":"u1","data":{"username":"Ada","password":"correct horse"}}`},
		{"cmd.account.open", `{"aggregate_id":"a1","data":{"owner":"x"}}`},
		{"cmd.account.open", `{"aggregate_id":"a2","data":{"owner":"y"}}`},
		{"cmd.account.open", `{"aggregate_id":"a3","data":{"owner":"z"}}`},
	} {
		last = command(t, nc, c[0], c[1]).Sequence
	}
	wait := fmt.Sprintf(`"min_sequence":%d`, last)

	a := ask(t, nc, "query.order.get", `{"id":"7dd8",`+wait+`}`)
	require.Equal(t, 200, a.status, a.message)
	assert.JSONEq(t, `{"id":"7dd8","items":[{"item_id":"9a37","quantity":5},{"item_id":"a974","quantity":10}],"version":6}`, string(a.data))

	a = ask(t, nc, "query.product.low_stock", `{"below":10,`+wait+`}`)
	require.Equal(t, 200, a.status, a.message)
	assert.JSONEq(t, `[{"id":"ink","name":"Ink","stock":0,"version":1},{"id":"pen","name":"Pen","stock":4,"version":2}]`, string(a.data))

	a = ask(t, nc, "query.user.get", `{"username":"ada",`+wait+`}`)
	require.Equal(t, 200, a.status, a.message)
	assert.JSONEq(t, `{"id":"u1","username":"ada"}`, string(a.data))

	a = ask(t, nc, "query.account.list", `{"limit":2,`+wait+`}`)
	require.Equal(t, 200, a.status, a.message)
	var page []account.View
	require.NoError(t, json.Unmarshal(a.data, &page))
	require.Len(t, page, 2)
	assert.Equal(t, []string{"a1", "a2"}, []string{page[0].ID, page[1].ID})
	a = ask(t, nc, "query.account.list", `{"limit":2,"after":"a2"}`)
	require.NoError(t, json.Unmarshal(a.data, &page))
	require.Len(t, page, 1)
	assert.Equal(t, "a3", page[0].ID)
}

func TestBadQueriesAreRefused(t *testing.T) {
	nc := platform(t)
	cases := []struct {
		subject, body string
		status        int
		code, msg     string
	}{
		{"query.account.get", `nope`, 400, "bad_request", "JSON object"},
		{"query.account.get", `{}`, 400, "bad_request", "id is required"},
		{"query.account.get", `{"id":"a","min_sequence":.}`, 400, "bad_request", "malformed query"},
		{"query.account.get", `{"id":"a"} {}`, 400, "bad_request", "malformed query"},
		{"query.account.get", `{"id":"a\x"}`, 400, "bad_request", "malformed query"},
		{"query.account.get", `{"id":"a","min_sequence":1.5}`, 400, "bad_request", "min_sequence"},
		{"query.account.get", `{"id":"a","min_sequence":1e3}`, 400, "bad_request", "min_sequence"},
		{"query.account.list", `{"limit":2.0}`, 400, "bad_request", `parameter "limit" has the wrong type`},
		{"query.account.get", `{"id":null}`, 400, "bad_request", "id is required"},
		{"query.account.get", `{"id":"a.b"}`, 400, "bad_request", "invalid aggregate id"},
		{"query.account.get", `{"id":5}`, 400, "bad_request", `parameter "id"`},
		{"query.account.get", `{"id":"a","colour":"red"}`, 400, "bad_request", `unknown field "colour"`},
		{"query.account.get", `{"id":"a","min_sequence":-1}`, 400, "bad_request", "min_sequence"},
		{"query.account.get", `{"id":"a","wait_ms":99999999}`, 400, "bad_request", "wait_ms"},
		{"query.account.get", `{"id":"nobody"}`, 404, "not_found", `account "nobody"`},
		{"query.account.list", `{"limit":0}`, 400, "bad_request", "limit must be between 1 and 1000"},
		{"query.account.list", `{"after":"*"}`, 400, "bad_request", "after"},
		{"query.product.low_stock", `{}`, 400, "bad_request", "below is required"},
		{"query.user.get", `{}`, 400, "bad_request", "username is required"},
	}
	for _, c := range cases {
		t.Run(c.subject+" "+c.body, func(t *testing.T) {
			a := ask(t, nc, c.subject, c.body)
			assert.Equal(t, c.status, a.status)
			assert.Equal(t, c.code, a.code)
			assert.Contains(t, a.message, c.msg)
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{`{"id":"a","min_sequence":5}`, `[]`, ``, `{"wait_ms":1e3}`, `{"min_sequence":"5"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := reader.DecodeEnvelope(body, time.Second, time.Minute)
		if err == nil {
			require.LessOrEqual(t, env.Wait, time.Minute)
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(env.Params, &m))
			require.NotContains(t, m, "min_sequence")
		}
	})
}

func TestQueriesInFlightAreAnsweredWhenTheReaderStops(t *testing.T) {
	w := newWorld(t)
	seq := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"d1","data":{"owner":"ada"}}`).Sequence
	reg := prometheus.NewRegistry()
	rd := w.serve([]reader.Option{reader.WithMetrics(reg)})
	// No projection runs yet: both queries wait for their sequence.
	reached := askLater(w.nc, "query.account.get", fmt.Sprintf(`{"id":"d1","min_sequence":%d,"wait_ms":20000}`, seq))
	timedOut := askLater(w.nc, "query.account.get", `{"id":"d1","min_sequence":1000000,"wait_ms":2000}`)
	testkit.Eventually(t, 10*time.Second, func() bool { return metric(t, reg, "jetsource_reader_waiting", "account") == 2 },
		"both queries in flight")

	rd.stop()
	a := answerOf(t, <-timedOut)
	assert.Equal(t, 503, a.status, a.message)
	assert.Equal(t, "stale", a.code)
	w.project()
	a = answerOf(t, <-reached)
	require.Equal(t, 200, a.status, a.message)
	assert.JSONEq(t, `{"id":"d1","owner":"ada","balance":0,"frozen":false,"version":1}`, string(a.data))
	select {
	case <-rd.done:
		require.NoError(t, rd.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its queries were answered")
	}
}

func TestAPanickingQueryAnswers500AndTheReaderKeepsServing(t *testing.T) {
	w := newWorld(t)
	w.project()
	var logs testkit.SyncBuffer
	w.serve([]reader.Option{reader.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}, func(r *reader.Reader) {
		require.NoError(t, r.Register(reader.Query{Model: "account", Name: "boom", Projection: account.ProjectionName,
			Read: func(context.Context, *projections.View, reader.Params) (any, error) {
				panic("the query has a bug")
			}}))
	})
	seq := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"p1","data":{"owner":"ada"}}`).Sequence
	for range 2 {
		a := ask(t, w.nc, "query.account.boom", `{}`)
		assert.Equal(t, 500, a.status)
		assert.Equal(t, "internal", a.code)
		assert.NotContains(t, a.message, "bug", "the reply says little")
	}
	assert.Contains(t, logs.String(), "the query has a bug")
	assert.Contains(t, logs.String(), "TestAPanickingQueryAnswers500AndTheReaderKeepsServing", "the log has the stack")
	a := ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":"p1","min_sequence":%d}`, seq))
	require.Equal(t, 200, a.status, a.message)
}

func TestWaitsForMinSequenceDoNotHoldUpOtherQueries(t *testing.T) {
	const waits = 300
	w := newWorld(t)
	stopProjecting := w.project()
	seq := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"w1","data":{"owner":"ada"}}`).Sequence
	reg := prometheus.NewRegistry()
	w.serve([]reader.Option{reader.WithMaxWaits(waits), reader.WithMetrics(reg)})
	require.Equal(t, 200, ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":"w1","min_sequence":%d}`, seq)).status)
	// The projection stops: the stream has a sequence it has not reached.
	stopProjecting()
	behind := command(t, w.nc, "cmd.account.deposit", `{"aggregate_id":"w1","data":{"amount":7}}`).Sequence
	replies := make([]<-chan *nats.Msg, waits)
	for i := range replies {
		replies[i] = askLater(w.nc, "query.account.get", fmt.Sprintf(`{"id":"w1","min_sequence":%d,"wait_ms":30000}`, behind))
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return metric(t, reg, "jetsource_reader_waiting", "account") == waits },
		"all %d waits waiting", waits)

	// A plain query and one whose sequence is reached answer at once (2 s
	// against waits of 30 s) while every wait is still pending.
	for _, body := range []string{`{"id":"w1"}`, fmt.Sprintf(`{"id":"w1","min_sequence":%d,"wait_ms":30000}`, seq)} {
		msg, err := w.nc.Request("query.account.get", []byte(body), 2*time.Second)
		require.NoError(t, err, "query %s answered while %d queries wait", body, waits)
		a := answerOf(t, msg)
		require.Equal(t, 200, a.status, a.message)
		assert.Equal(t, seq, a.sequence)
	}
	for i, r := range replies {
		select {
		case msg := <-r:
			t.Fatalf("wait %d ended before its sequence was reached: %s", i, msg.Data)
		default:
		}
	}

	// The waits share one poll of the projection: Redis sees the reads of
	// the polls (2 GETs each), not 300 per poll.
	polls, gets := metric(t, reg, "jetsource_reader_wait_polls_total", account.ProjectionName), redisCalls(t, w.rdb, "get")
	testkit.Eventually(t, 10*time.Second, func() bool {
		return metric(t, reg, "jetsource_reader_wait_polls_total", account.ProjectionName) >= polls+20
	}, "the waits are polled")
	gets = redisCalls(t, w.rdb, "get") - gets
	polls = metric(t, reg, "jetsource_reader_wait_polls_total", account.ProjectionName) - polls
	assert.LessOrEqual(t, float64(gets), 2*polls+4, "Redis GETs for %v polls of %d waits", polls, waits)

	// The projection resumes: every wait gets its answer.
	w.project()
	for _, r := range replies {
		a := answerOf(t, <-r)
		require.Equal(t, 200, a.status, a.message)
		assert.JSONEq(t, `{"id":"w1","owner":"ada","balance":7,"frozen":false,"version":2}`, string(a.data))
	}
	// (The first query may have waited too.)
	assert.GreaterOrEqual(t, metric(t, reg, "jetsource_reader_waits_total", "account", "reached"), float64(waits))
}

func TestMinSequenceBeyondTheStreamIsStaleAtOnce(t *testing.T) {
	const queries = 300
	w := newWorld(t)
	w.project()
	reg := prometheus.NewRegistry()
	// One wait slot: a query beyond the stream must not even take one.
	w.serve([]reader.Option{reader.WithLastSequence(w.lastSequence()), reader.WithMaxWaits(1), reader.WithMetrics(reg)})
	last := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"b1","data":{"owner":"ada"}}`).Sequence
	replies := make([]<-chan *nats.Msg, queries)
	for i := range replies {
		replies[i] = askLater(w.nc, "query.account.get", `{"id":"b1","min_sequence":999999999999,"wait_ms":30000}`)
	}
	for i, r := range replies {
		select {
		case msg := <-r:
			a := answerOf(t, msg)
			require.Equal(t, 503, a.status, a.message)
			require.Equal(t, "stale", a.code)
			require.Contains(t, a.message, "the stream ends at sequence")
		case <-time.After(10 * time.Second):
			t.Fatalf("query %d beyond the stream's end waited (for 30 s)", i)
		}
	}
	assert.Equal(t, float64(queries), metric(t, reg, "jetsource_reader_waits_total", "account", "beyond_end"))

	// A sequence just written is within the stream, however fresh.
	for range 20 {
		last = command(t, w.nc, "cmd.account.deposit", `{"aggregate_id":"b1","data":{"amount":1}}`).Sequence
		a := ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":"b1","min_sequence":%d}`, last))
		require.Equal(t, 200, a.status, a.message)
	}
}

func TestWaitsBeyondTheCapOfAModelAnswerAtOnce(t *testing.T) {
	const most = 5
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	w.serve([]reader.Option{reader.WithMaxWaits(most), reader.WithMetrics(reg)})
	// No projection runs yet: a query for this sequence waits.
	seq := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"c1","data":{"owner":"ada"}}`).Sequence
	wait := fmt.Sprintf(`{"id":"c1","min_sequence":%d,"wait_ms":30000}`, seq)
	pending := make([]<-chan *nats.Msg, most)
	for i := range pending {
		pending[i] = askLater(w.nc, "query.account.get", wait)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return metric(t, reg, "jetsource_reader_waiting", "account") == most },
		"%d waits waiting", most)

	a := ask(t, w.nc, "query.account.get", wait)
	assert.Equal(t, 503, a.status)
	assert.Equal(t, "unavailable", a.code)
	assert.Contains(t, a.message, "too many queries wait for the account read model")
	// The cap is per model: a wait on another model is not refused.
	a = ask(t, w.nc, "query.product.get", fmt.Sprintf(`{"id":"c1","min_sequence":%d,"wait_ms":100}`, seq))
	assert.Equal(t, "stale", a.code, a.message)

	w.project()
	for _, r := range pending {
		a := answerOf(t, <-r)
		require.Equal(t, 200, a.status, a.message)
	}
	assert.Equal(t, float64(1), metric(t, reg, "jetsource_reader_waits_total", "account", "refused"))
	assert.Equal(t, float64(most), metric(t, reg, "jetsource_reader_waits_total", "account", "reached"))
}

// metric is the value of the metric name whose label values are labels (0
// when there is none).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i, l := range m.GetLabel() {
				if i >= len(labels) || l.GetValue() != labels[i] {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// redisCalls is how many times Redis ran command so far.
func redisCalls(t *testing.T, rdb *redis.Client, command string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	_, rest, found := strings.Cut(info, "cmdstat_"+command+":calls=")
	require.True(t, found, "Redis counts %s", command)
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	require.NoError(t, err)
	return n
}
