package tracing_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// platform is a gateway, a writer, the accounts projection and a reader, all
// run in the test against a real nats-server and redis-server, with spans
// recorded in memory (or none, with a nil provider: the global no-op).
type platform struct {
	nc    *nats.Conn
	store *streams.Store
	http  *httptest.Server
	spans *tracetest.InMemoryExporter
}

func startPlatform(t *testing.T, recording bool) *platform {
	t.Helper()
	n := testkit.StartNATS(t)
	rdb := testkit.StartRedis(t).Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &platform{nc: n.Connect(), spans: tracetest.NewInMemoryExporter()}
	var tp trace.TracerProvider // nil: the global provider, a no-op here
	if recording {
		sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(p.spans))
		t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
		tp = sdk
	}
	var err error
	p.store, err = streams.Open(ctx, p.nc)
	require.NoError(t, err)

	w, err := writer.New(p.nc, p.store, writer.WithTracerProvider(tp))
	require.NoError(t, err)
	require.NoError(t, writer.Register(w, account.Definition()))
	runner, err := projections.NewRunner(p.store.JetStream(), rdb, []projections.Projection{account.Projection()},
		projections.WithTracerProvider(tp), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	rd := reader.New(p.nc, rdb, reader.WithTracerProvider(tp))
	require.NoError(t, rd.Register(account.Queries()...))
	done := make(chan struct{}, 3)
	for _, run := range []func(context.Context) error{w.Serve, runner.Run, rd.Serve} {
		go func() {
			defer func() { done <- struct{}{} }()
			assert.NoError(t, run(ctx))
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			<-done
		}
	})
	gw, err := gateway.New(p.nc, gateway.WithTracerProvider(tp), gateway.WithQueries(account.Queries()...))
	require.NoError(t, err)
	p.http = httptest.NewServer(gw)
	t.Cleanup(p.http.Close)
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, werr := p.nc.Request("$SRV.PING.jetsource-writer", nil, time.Second)
		_, rerr := p.nc.Request("$SRV.PING.jetsource-reader", nil, time.Second)
		return werr == nil && rerr == nil
	}, "writer and reader serve")
	return p
}

// send sends an HTTP request to the gateway with a traceparent header
// (none when empty) and returns the status and body.
func (p *platform) send(t *testing.T, method, path, body, traceparent string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.http.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// span returns the one recorded span of kind and name, waiting for it.
func (p *platform) span(t *testing.T, kind trace.SpanKind, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	testkit.Eventually(t, 10*time.Second, func() bool {
		found = found[:0]
		for _, s := range p.spans.GetSpans() {
			if s.SpanKind == kind && s.Name == name {
				found = append(found, s)
			}
		}
		return len(found) > 0
	}, "a %s span %q among %v", kind, name, names(p.spans.GetSpans()))
	require.Len(t, found, 1, "one %s span %q", kind, name)
	return found[0]
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind.String()+" "+s.Name)
	}
	return out
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// event returns the one event of account id as stored.
func (p *platform) event(t *testing.T, id string) streams.Recorded {
	t.Helper()
	ref, err := streams.NewRef(account.Type, id)
	require.NoError(t, err)
	var events []streams.Recorded
	for ev, err := range p.store.Read(context.Background(), ref, streams.Position{}, streams.Until{}) {
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.Len(t, events, 1)
	return events[0]
}

// traceparent is the W3C header of span context sc.
func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

const (
	incomingTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpan  = "00f067aa0ba902b7"
)

// The trace: one trace from the HTTP request to the Redis write.
// The caller's traceparent is the parent of the gateway's server span, then
// each hop is the child of the one before: the gateway's NATS request, the
// writer's command, the projection's apply (which covers the Redis
// transaction: the read model is written when it ends); the event in the
// stream carries the command span's traceparent.
func TestOneTraceRunsFromTheHTTPRequestToTheRedisWrite(t *testing.T) {
	p := startPlatform(t, true)
	status, body := p.send(t, http.MethodPost, "/v1/commands/account/open",
		`{"aggregate_id":"acc-7","data":{"owner":"ada"}}`, "00-"+incomingTrace+"-"+incomingSpan+"-01")
	require.Equal(t, http.StatusOK, status, body)

	server := p.span(t, trace.SpanKindServer, "POST /v1/commands/{type}/{command}")
	request := p.span(t, trace.SpanKindClient, "cmd.account.open")
	command := p.span(t, trace.SpanKindServer, "cmd.account.open")
	apply := p.span(t, trace.SpanKindConsumer, "apply accounts")

	for _, s := range []tracetest.SpanStub{server, request, command, apply} {
		assert.Equal(t, incomingTrace, s.SpanContext.TraceID().String(), "span %s is in the caller's trace", s.Name)
	}
	assert.Equal(t, incomingSpan, server.Parent.SpanID().String(), "the server span continues the caller's span")
	assert.True(t, server.Parent.IsRemote())
	assert.Equal(t, server.SpanContext.SpanID(), request.Parent.SpanID(), "the NATS request is the HTTP request's child")
	assert.Equal(t, request.SpanContext.SpanID(), command.Parent.SpanID(), "the command continues the NATS request's trace")
	assert.True(t, command.Parent.IsRemote(), "…across NATS")
	assert.Equal(t, command.SpanContext.SpanID(), apply.Parent.SpanID(), "the projection continues the command's trace")
	assert.True(t, apply.Parent.IsRemote(), "…across the event stream")

	assert.Equal(t, "account", attr(command, "jetsource.aggregate.type").AsString())
	assert.Equal(t, "acc-7", attr(command, "jetsource.aggregate.id").AsString())
	assert.Equal(t, "open", attr(command, "jetsource.command").AsString())
	assert.Equal(t, "ok", attr(command, "jetsource.outcome").AsString())
	assert.Equal(t, "accounts", attr(apply, "jetsource.projection").AsString())
	assert.Equal(t, "AccountOpened", attr(apply, "jetsource.event.type").AsString())
	assert.Equal(t, "acc-7", attr(apply, "jetsource.aggregate.id").AsString())

	ev := p.event(t, "acc-7")
	assert.Equal(t, traceparent(command.SpanContext), ev.TraceParent, "the event carries the command span's traceparent")
	assert.Equal(t, ev.Sequence, streams.Sequence(attr(apply, "jetsource.event.sequence").AsInt64()))

	// The apply span ends after the transaction: the read model holds the
	// account as soon as the span is recorded, without waiting.
	status, body = p.send(t, http.MethodGet, "/v1/queries/account/get?id=acc-7", "", "")
	require.Equal(t, http.StatusOK, status, body)
	var got struct {
		Data account.View `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, "ada", got.Data.Owner)
	query := p.span(t, trace.SpanKindServer, "query.account.get")
	assert.Equal(t, "ok", attr(query, "jetsource.outcome").AsString())
	queryServer := p.span(t, trace.SpanKindServer, "GET /v1/queries/{model}/{name}")
	assert.Equal(t, queryServer.SpanContext.TraceID(), query.SpanContext.TraceID(), "a query without traceparent starts a trace of its own")
	assert.NotEqual(t, incomingTrace, query.SpanContext.TraceID().String())
}

// A malformed traceparent is ignored: the request is served and its spans
// start a new trace, which the command and its event continue.
func TestAMalformedTraceparentStartsANewTrace(t *testing.T) {
	p := startPlatform(t, true)
	for _, bad := range []string{"00-xyz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"} {
		t.Run(bad, func(t *testing.T) {
			p.spans.Reset()
			status, body := p.send(t, http.MethodPost, "/v1/commands/account/deposit",
				`{"aggregate_id":"acc-1","data":{"amount":5}}`, bad)
			require.Equal(t, http.StatusNotFound, status, body) // served: the account does not exist
			server := p.span(t, trace.SpanKindServer, "POST /v1/commands/{type}/{command}")
			command := p.span(t, trace.SpanKindServer, "cmd.account.deposit")
			assert.False(t, server.Parent.IsValid(), "the server span is a root")
			assert.True(t, server.SpanContext.IsValid())
			assert.Equal(t, server.SpanContext.TraceID(), command.SpanContext.TraceID())
			assert.Equal(t, "not_found", attr(command, "jetsource.outcome").AsString())
		})
	}
}

// With tracing off (the global no-op provider) the writer adds no trace
// headers to events, but passes on a traceparent its request carried.
func TestWithTracingOffEventsCarryOnlyTheCallersTraceparent(t *testing.T) {
	p := startPlatform(t, false)
	open := func(id, tp string) {
		msg := nats.NewMsg("cmd.account.open")
		msg.Data = []byte(`{"aggregate_id":"` + id + `","data":{"owner":"ada"}}`)
		if tp != "" {
			msg.Header.Set("traceparent", tp)
			msg.Header.Set("tracestate", "vendor=1")
		}
		reply, err := p.nc.RequestMsg(msg, 5*time.Second)
		require.NoError(t, err)
		require.Empty(t, reply.Header.Get("Nats-Service-Error-Code"), string(reply.Data))
	}
	open("acc-plain", "")
	plain := p.event(t, "acc-plain")
	assert.Empty(t, plain.TraceParent)
	assert.Empty(t, plain.TraceState)

	incoming := "00-" + incomingTrace + "-" + incomingSpan + "-01"
	open("acc-traced", incoming)
	traced := p.event(t, "acc-traced")
	assert.Equal(t, incoming, traced.TraceParent, "nothing records a span: the caller's context goes on as it came")
	assert.Equal(t, "vendor=1", traced.TraceState)
	assert.Empty(t, p.spans.GetSpans())
}
