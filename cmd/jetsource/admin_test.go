package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// deployment is a writer, a projector and a reader of the sample domains on
// a private nats-server and redis-server, and the environment the CLI reads
// its settings from.
type deployment struct {
	t   *testing.T
	env map[string]string
	nc  *nats.Conn
}

// snapshotEvery makes the writer snapshot the seed's order at versions 2, 4
// and 6, so that state has a snapshot to start from.
const snapshotEvery = 2

// startDeployment starts the writer, the projector and the reader.
func startDeployment(t *testing.T) *deployment {
	t.Helper()
	return startServices(t, true)
}

// startServices starts the writer, the reader and, if projector, the
// projector.
func startServices(t *testing.T, projector bool) *deployment {
	t.Helper()
	n := testkit.StartNATS(t)
	rd := testkit.StartRedis(t)
	cfg := config.Default()
	cfg.NATS.URL, cfg.Redis.URL = n.URL(), rd.URL
	cfg.Writer.SnapshotEvery = snapshotEvery
	p := samples.Platform()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	running := 2
	go func() { done <- p.RunWriter(ctx, cfg, n.Connect(), ops.New(log), log) }()
	go func() { done <- p.RunReader(ctx, cfg, n.Connect(), rd.Client(t), ops.New(log), log) }()
	if projector {
		running++
		go func() { done <- p.RunProjector(ctx, cfg, n.Connect(), rd.Client(t), ops.New(log), log) }()
	}
	t.Cleanup(func() {
		cancel()
		for range running {
			assert.NoError(t, <-done)
		}
	})
	d := &deployment{t: t, env: map[string]string{"NATS_URL": n.URL(), "REDIS_URL": rd.URL}, nc: n.Connect()}
	// Each service answers once it serves: a bad request, a missing entry,
	// an unknown projection.
	d.waitServing("cmd.order.place", `{}`)
	d.waitServing("query.order.get", `{"id":"none"}`)
	if projector {
		d.waitServing("jetsource.projector.rebuild.none", ``)
	}
	return d
}

func (d *deployment) waitServing(subject, body string) {
	testkit.Eventually(d.t, 30*time.Second, func() bool {
		_, err := d.nc.Request(subject, []byte(body), time.Second)
		return !errors.Is(err, nats.ErrNoResponders)
	}, "a service serves %s", subject)
}

// run runs the CLI in-process.
func (d *deployment) run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(args, func(k string) string { return d.env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// ok runs the CLI and requires success.
func (d *deployment) ok(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(args...)
	require.NoError(d.t, err, "jetsource %s\nstderr: %s", strings.Join(args, " "), errOut)
	return out
}

// jsonOf decodes the CLI's --json output.
func jsonOf[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(out), &v), "output: %s", out)
	return v
}

// seedOrder sends the README's order 7dd8 with the CLI and returns the
// stream sequence of its last event.
func (d *deployment) seedOrder() uint64 {
	cmds := [][2]string{
		{"place", `{"aggregate_id":"7dd8"}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":3}}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a","quantity":1}}`},
		{"remove_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a"}}`},
		{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"a974","quantity":10}}`},
		{"change_quantity", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":5}}`},
	}
	var last uint64
	for _, c := range cmds {
		r := jsonOf[struct{ Sequence uint64 }](d.t, d.ok("send", "--json", "order", c[0], c[1]))
		last = r.Sequence
	}
	return last
}

type item struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// orderState is admin.State with the order's state decoded.
type orderState struct {
	Exists          bool   `json:"exists"`
	Version         uint64 `json:"version"`
	FromSnapshot    bool   `json:"from_snapshot"`
	SnapshotVersion uint64 `json:"snapshot_version"`
	State           struct {
		Items []item `json:"items"`
	} `json:"state"`
}

func TestEventsListsTheSeedOrdersHistoryWithHeadersAndPayloads(t *testing.T) {
	d := startDeployment(t)
	last := d.seedOrder()

	history := jsonOf[[]admin.Event](t, d.ok("events", "order", "7dd8", "--json"))
	require.Len(t, history, 6)
	wantTypes := []string{"OrderPlaced", "OrderItemAdded", "OrderItemAdded", "OrderItemRemoved", "OrderItemAdded", "OrderItemQuantityChanged"}
	for i, ev := range history {
		assert.Equal(t, uint64(i+1), ev.Version)
		assert.Equal(t, wantTypes[i], ev.Type)
		assert.Equal(t, "events.order.7dd8", ev.Subject)
		assert.Equal(t, strconv.Itoa(i+1), ev.Headers[streams.HeaderVersion])
		assert.NotEmpty(t, ev.Headers[streams.HeaderMsgID], "the writer's headers are shown")
		assert.NotContains(t, ev.Headers, "Nats-Num-Pending", "not the headers of the read")
		assert.False(t, ev.Time.IsZero())
		if i > 0 {
			assert.Greater(t, ev.Sequence, history[i-1].Sequence)
			assert.False(t, ev.Time.Before(history[i-1].Time))
		}
	}
	assert.Equal(t, last, history[5].Sequence)
	assert.JSONEq(t, `{"item_id":"9a37","quantity":3}`, string(history[1].Payload))
	assert.JSONEq(t, `{"item_id":"9a37","quantity":5}`, string(history[5].Payload))

	table := d.ok("events", "order", "7dd8", "--headers")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 7, "a header and six events:\n%s", table)
	assert.Regexp(t, `^VERSION\s+SEQUENCE\s+TIME\s+TYPE\s+PAYLOAD\s+NOTE\s+HEADERS`, lines[0])
	assert.Regexp(t, `^2\s+\d+\s+\S+\s+OrderItemAdded\s+\{"item_id":"9a37","quantity":3\}\s+-\s+.*Es-Schema=1 .*Nats-Msg-Id=`, lines[2])

	upTo3 := jsonOf[[]admin.Event](t, d.ok("events", "--json", "--at", "3", "order", "7dd8"))
	assert.Len(t, upTo3, 3)
	asOf := jsonOf[[]admin.Event](t, d.ok("events", "--json", "--at", history[3].Time.Format(time.RFC3339Nano), "order", "7dd8"))
	assert.Len(t, asOf, 4, "--at a time: the events recorded until then")

	out := d.ok("events", "order", "none")
	assert.Equal(t, "order/none has no events\n", out)
}

func TestEventsMarksAVoidedEvent(t *testing.T) {
	d := startDeployment(t)
	d.ok("send", "order", "place", `{"aggregate_id":"v1"}`)
	forged := d.forge("events.order.v1", "OrderItemAdded", 1, `{"item_id":"x","quantity":1}`)
	d.ok("void", "-reason", "forged in a test", "order", "v1", strconv.FormatUint(forged, 10))

	history := jsonOf[[]admin.Event](t, d.ok("events", "--json", "order", "v1"))
	require.Len(t, history, 3, "the event, the forged one, the correction")
	assert.Equal(t, forged, history[1].Sequence)
	assert.Equal(t, history[2].Sequence, history[1].VoidedBy, "the forged event names its correction")
	assert.Equal(t, streams.VoidType, history[2].Type)
	assert.Zero(t, history[0].VoidedBy)
	assert.Contains(t, d.ok("events", "order", "v1"), "voided by sequence "+strconv.FormatUint(history[2].Sequence, 10))
}

// forge publishes an event with the given version past the writer, as a
// buggy or hostile publisher would, and returns its sequence.
func (d *deployment) forge(subject, typ string, version int, payload string) uint64 {
	js, err := jetstream.New(d.nc)
	require.NoError(d.t, err)
	msg := nats.NewMsg(subject)
	msg.Header.Set(streams.HeaderType, typ)
	msg.Header.Set(streams.HeaderVersion, strconv.Itoa(version))
	msg.Data = []byte(payload)
	ack, err := js.PublishMsg(context.Background(), msg)
	require.NoError(d.t, err)
	return ack.Sequence
}

func TestStateTimeTravelsOnTheSeedOrder(t *testing.T) {
	d := startDeployment(t)
	d.seedOrder()
	final := []item{{"9a37", 5}, {"a974", 10}}

	st := jsonOf[orderState](t, d.ok("state", "--json", "order", "7dd8"))
	assert.Equal(t, final, st.State.Items)
	assert.Equal(t, uint64(6), st.Version)
	assert.True(t, st.FromSnapshot, "the writer snapshots every %d events", snapshotEvery)
	assert.Equal(t, uint64(6), st.SnapshotVersion)

	replayed := jsonOf[orderState](t, d.ok("state", "--json", "--no-snapshot", "order", "7dd8"))
	assert.Equal(t, final, replayed.State.Items, "the snapshot changes no result")
	assert.False(t, replayed.FromSnapshot)

	at3 := jsonOf[orderState](t, d.ok("state", "--json", "--at", "3", "order", "7dd8"))
	assert.Equal(t, []item{{"9a37", 3}, {"c52a", 1}}, at3.State.Items, "after version 3: 9a37×3 and c52a×1")
	assert.Equal(t, uint64(3), at3.Version)
	assert.False(t, at3.FromSnapshot, "the snapshot (version 6) lies beyond the bound")

	at2 := jsonOf[orderState](t, d.ok("state", "--json", "--at", "2", "order", "7dd8"))
	assert.Equal(t, []item{{"9a37", 3}}, at2.State.Items, "after version 2: 9a37×3 only")

	history := jsonOf[[]admin.Event](t, d.ok("events", "--json", "order", "7dd8"))
	at := history[3].Time.Format(time.RFC3339Nano)
	atTime := jsonOf[orderState](t, d.ok("state", "--json", "--at", at, "order", "7dd8"))
	assert.Equal(t, []item{{"9a37", 3}}, atTime.State.Items, "as of version 4's time: c52a removed")
	assert.Equal(t, uint64(4), atTime.Version)

	before := history[0].Time.Add(-time.Nanosecond).Format(time.RFC3339Nano)
	none := jsonOf[orderState](t, d.ok("state", "--json", "--at", before, "order", "7dd8"))
	assert.False(t, none.Exists)

	table := d.ok("state", "--at", "3", "--no-snapshot", "order", "7dd8")
	assert.Contains(t, table, "order/7dd8 at version 3 (sequence ")
	assert.Contains(t, table, "order/7dd8 at version 3 (sequence 3), replayed from the first event")
	assert.Contains(t, table, `"item_id": "c52a"`)
	assert.Contains(t, d.ok("state", "order", "7dd8"), "replayed from the snapshot at version 6")
}

func TestTailPrintsTheEventsOfItsFilterAppendedAfterItStarts(t *testing.T) {
	d := startDeployment(t)
	d.ok("send", "order", "place", `{"aggregate_id":"before"}`)
	var out bytes.Buffer
	errOut := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"tail", "--json", "-n", "2", "order"}, func(k string) string { return d.env[k] }, &out, errOut)
	}()
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "tailing events.order.*") },
		"tail starts: %s", errOut)
	d.ok("send", "account", "open", `{"aggregate_id":"a1","data":{"owner":"ada"}}`)
	d.ok("send", "order", "place", `{"aggregate_id":"t1"}`)
	d.ok("send", "order", "add_item", `{"aggregate_id":"t1","data":{"item_id":"i1","quantity":2}}`)
	select {
	case err := <-done:
		require.NoError(t, err, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not print two events")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	first, second := jsonOf[admin.Event](t, lines[0]), jsonOf[admin.Event](t, lines[1])
	assert.Equal(t, "events.order.t1", first.Subject, "neither the earlier order nor the account")
	assert.Equal(t, "OrderPlaced", first.Type)
	assert.Equal(t, "OrderItemAdded", second.Type)
	assert.JSONEq(t, `{"item_id":"i1","quantity":2}`, string(second.Payload))

	_, _, err := d.run("tail", "order.*")
	assert.ErrorContains(t, err, `tail filter "order.*"`, "a filter never widens a subject")
}

func TestSendAnswersAndReportsARefusal(t *testing.T) {
	d := startDeployment(t)
	out := d.ok("send", "order", "place", `{"aggregate_id":"s1"}`)
	assert.Regexp(t, `^ok: s1 at version 1, sequence \d+\nEVENT\s+VERSION\s+SEQUENCE\nOrderPlaced\s+1\s+\d+\n$`, out)

	stdout, _, err := d.run("send", "--json", "order", "add_item", `{"aggregate_id":"nope","data":{"item_id":"i","quantity":1}}`)
	var re *admin.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 404, re.Status)
	assert.Equal(t, "not_found", re.Code)
	assert.Contains(t, stdout, `"code": "not_found"`, "--json gives scripts the refusal too")

	_, _, err = d.run("send", "order", "add_item", `{"aggregate_id":"s1","data":{"item_id":"i","quantity":0}}`)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "bad_request", re.Code)

	_, _, err = d.run("send", "order", "ship", `{"aggregate_id":"s1"}`)
	assert.EqualError(t, err, "no writer is running for cmd.order.ship: "+admin.ErrNoService.Error())
	_, _, err = d.run("send", "order", "place", `not json`)
	assert.ErrorContains(t, err, "command body: want a JSON object")
	_, _, err = d.run("send", "Order", "place", `{}`)
	assert.ErrorContains(t, err, `aggregate type "Order"`)
}

func TestQueryReadsTheSeedOrder(t *testing.T) {
	d := startDeployment(t)
	last := d.seedOrder()
	min := "min_sequence=" + strconv.FormatUint(last, 10)
	answer := jsonOf[struct {
		Data struct {
			ID    string `json:"id"`
			Items []item `json:"items"`
		} `json:"data"`
		Sequence uint64 `json:"sequence"`
	}](t, d.ok("query", "--json", "order", "get", "id=7dd8", min))
	assert.Equal(t, []item{{"9a37", 5}, {"a974", 10}}, answer.Data.Items)
	assert.GreaterOrEqual(t, answer.Sequence, last)

	table := d.ok("query", "order", "get", "id=7dd8", min)
	assert.Regexp(t, `(?m)^id\s+7dd8$`, table)
	assert.Regexp(t, `(?m)^items\s+\[\{"item_id":"9a37","quantity":5\},\{"item_id":"a974","quantity":10\}\]$`, table)
	assert.Regexp(t, `(?m)^version\s+6$`, table)

	_, _, err := d.run("query", "order", "get", "id=missing")
	var re *admin.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "not_found", re.Code)
	_, _, err = d.run("query", "order", "nope", "id=7dd8")
	assert.ErrorContains(t, err, "no reader is running for query.order.nope")
	_, _, err = d.run("query", "order", "get", "7dd8")
	assert.ErrorIs(t, err, flag.ErrHelp, "a parameter without = is a usage error")
}

func TestProjectionsShowLagAndAFailedEvent(t *testing.T) {
	d := startDeployment(t)
	last := d.seedOrder()
	var list []admin.Projection
	testkit.Eventually(t, 30*time.Second, func() bool {
		list = jsonOf[[]admin.Projection](t, d.ok("projections", "--json"))
		for _, p := range list {
			if p.Lag != 0 || p.State != "running" {
				return false
			}
		}
		return true
	}, "every projection catches up")
	require.Len(t, list, 5)
	for _, p := range list {
		assert.Equal(t, last, p.StreamLast)
		assert.Equal(t, int64(1), p.Generation)
		assert.Nil(t, p.Failed)
	}
	table := d.ok("projections")
	assert.Regexp(t, `(?m)^orders\s+running\s+1\s+`+strconv.FormatUint(last, 10)+`\s+`+strconv.FormatUint(last, 10)+`\s+`+strconv.FormatUint(last, 10)+`\s+0\s+-$`, table)

	forged := d.forge("events.order.7dd8", "OrderItemAdded", 3, `{"item_id":"zz","quantity":1}`)
	var orders admin.Projection
	testkit.Eventually(t, 30*time.Second, func() bool {
		for _, p := range jsonOf[[]admin.Projection](t, d.ok("projections", "--json")) {
			if p.Name == "orders" {
				orders = p
			}
		}
		return orders.State == "failed"
	}, "the forged event stops the orders projection")
	require.NotNil(t, orders.Failed)
	assert.Equal(t, forged, orders.Failed.Sequence)
	assert.Equal(t, "events.order.7dd8", orders.Failed.Subject)
	assert.Equal(t, "OrderItemAdded", orders.Failed.Type)
	assert.Equal(t, uint64(1), orders.Lag, "the forged event is not applied")
	assert.Contains(t, d.ok("projections"), "failed on OrderItemAdded at sequence "+strconv.FormatUint(forged, 10)+" (events.order.7dd8)")
}

func TestRebuildShowsItsProgressToTheTotal(t *testing.T) {
	d := startDeployment(t)
	d.seedOrder()
	for i := range 50 {
		d.ok("send", "order", "place", `{"aggregate_id":"r`+strconv.Itoa(i)+`"}`)
	}
	total := jsonOf[[]admin.Projection](t, d.ok("projections", "--json"))[0].StreamLast

	stdout, stderr, err := d.run("rebuild", "orders")
	require.NoError(t, err, stderr)
	assert.Equal(t, "rebuilt orders: "+strconv.FormatUint(total, 10)+" of "+strconv.FormatUint(total, 10)+" stream sequences\n", stdout)
	assert.True(t, strings.HasSuffix(stderr, "] 100% "+strconv.FormatUint(total, 10)+"/"+strconv.FormatUint(total, 10)+"\n"),
		"the bar ends full: %q", stderr)

	stdout, stderr, err = d.run("rebuild", "--json", "orders")
	require.NoError(t, err, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var prev uint64
	for _, l := range lines[:len(lines)-1] {
		p := jsonOf[struct{ Done, Total uint64 }](t, l)
		assert.Equal(t, total, p.Total)
		assert.GreaterOrEqual(t, p.Done, prev, "progress never goes back")
		prev = p.Done
	}
	assert.Equal(t, total, prev, "the progress reaches the total")
	end := jsonOf[struct {
		Rebuilt     string
		Done, Total uint64
	}](t, lines[len(lines)-1])
	assert.Equal(t, "orders", end.Rebuilt)
	assert.Equal(t, total, end.Done)

	p := jsonOf[[]admin.Projection](t, d.ok("projections", "--json"))
	assert.Equal(t, int64(3), p[1].Generation, "two rebuilds, two new generations")
	assert.Equal(t, "orders", p[1].Name)

	_, _, err = d.run("rebuild", "nope")
	assert.ErrorIs(t, err, admin.ErrUnknownProjection)
	assert.ErrorContains(t, err, "accounts, orders, products, users, transfers")
}

func TestRebuildWithoutAProjectorSaysSo(t *testing.T) {
	d := startServices(t, false)
	d.ok("send", "order", "place", `{"aggregate_id":"n1"}`)
	_, _, err := d.run("rebuild", "orders")
	assert.ErrorIs(t, err, admin.ErrNoService)
	assert.ErrorContains(t, err, "no projector is running for jetsource.projector.rebuild.orders")
	list := jsonOf[[]admin.Projection](t, d.ok("projections", "--json"))
	require.Len(t, list, 5)
	for _, p := range list {
		assert.Equal(t, projections.StateNew, p.State, "no projector ever ran %s", p.Name)
		assert.Equal(t, p.StreamLast, p.Lag, "%s has every event still to apply", p.Name)
	}
	assert.Regexp(t, `(?m)^orders\s+new\s+0\s+0\s+0\s+1\s+1\s+-$`, d.ok("projections"))
}

func TestUsageErrorsAndBadInputs(t *testing.T) {
	d := startDeployment(t)
	for _, args := range [][]string{
		{"events", "order"},
		{"events", "--at", "soon", "order", "x"},
		{"state", "--at", "0", "order", "x"},
		{"rebuild"},
		{"projections", "extra"},
		{"frobnicate"},
		{},
	} {
		_, _, err := d.run(args...)
		assert.ErrorIs(t, err, flag.ErrHelp, "jetsource %s is a usage error (exit 2)", strings.Join(args, " "))
	}
	_, _, err := d.run("state", "ship", "x")
	assert.ErrorIs(t, err, admin.ErrUnknownType)
	assert.ErrorContains(t, err, "registered: account, order, product, transfer, user")
	_, _, err = d.run("events", "order", "a.b")
	assert.ErrorIs(t, err, streams.ErrInvalidRef)
	_, _, err = d.run("state", "order", "a b")
	assert.ErrorIs(t, err, streams.ErrInvalidRef)
}

func TestOperatorsNeverSeeAPasswordHash(t *testing.T) {
	d := startDeployment(t)
	d.ok("send", "user", "register", `{"aggregate_id":"u1","data":{"username":"Ada","password":"correct horse battery"}}`)

	for _, args := range [][]string{
		{"events", "user", "u1"}, {"events", "--json", "user", "u1"},
		{"state", "user", "u1"}, {"state", "--json", "user", "u1"}, {"state", "--json", "--no-snapshot", "user", "u1"},
	} {
		out := d.ok(args...)
		assert.NotContains(t, out, "$2", "jetsource %s shows a bcrypt hash:\n%s", strings.Join(args, " "), out)
		assert.Contains(t, out, admin.Redacted, "jetsource %s", strings.Join(args, " "))
		assert.Contains(t, out, "ada", "the username is personal, not secret: operators see it")
	}
	events := jsonOf[[]admin.Event](t, d.ok("events", "--json", "user", "u1"))
	require.Len(t, events, 1)
	assert.JSONEq(t, `{"username":"ada","password_hash":"[redacted]"}`, string(events[0].Payload))
}
