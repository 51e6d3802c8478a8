package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/jetsource/jetsource/service"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Tracing is off unless the standard variables ask for it; what jetsource
// cannot do is refused with the variable's name.
func TestTracingIsOffUnlessTheEnvironmentAsksForIt(t *testing.T) {
	for _, c := range []struct {
		name string
		vars map[string]string
		on   bool
		err  string
	}{
		{name: "nothing set", vars: nil},
		{name: "an endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "a traces endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{name: "the otlp exporter", vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{name: "exporter none wins", vars: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}},
		{name: "sdk disabled wins", vars: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "sdk disabled false", vars: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{name: "http/protobuf", vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true},
		{name: "another exporter", vars: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: `OTEL_TRACES_EXPORTER="zipkin" is not supported`},
		{name: "grpc", vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: `OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported`},
		{name: "the traces' protocol wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true},
		{name: "grpc, but tracing off", vars: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			on, err := service.TracingEnabled(env(c.vars))
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.on, on)
		})
	}
}

// With an OTLP endpoint set, StartTracing installs a global provider whose
// spans reach the endpoint (OTLP/HTTP) by the time its shutdown returns;
// without one it installs nothing.
func TestStartTracingExportsSpansToTheOTLPEndpointAndFlushesOnShutdown(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
	}))
	t.Cleanup(collector.Close)
	before := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	log := slog.New(slog.DiscardHandler)

	// Off: the global provider is left alone.
	shutdown, err := service.StartTracing(context.Background(), "writer", env(nil), log)
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))
	assert.Equal(t, before, otel.GetTracerProvider())

	// The exporter reads the process environment, as any OTel SDK does.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	shutdown, err = service.StartTracing(context.Background(), "writer", env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}), log)
	require.NoError(t, err)
	_, span := otel.Tracer("test").Start(context.Background(), "a-span-to-export")
	span.End()
	require.NoError(t, shutdown(context.Background()))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, posts, 1, "one batch, flushed at shutdown")
	assert.Contains(t, posts[0], "POST /v1/traces application/x-protobuf")
	assert.Contains(t, posts[0], "a-span-to-export")
	assert.Contains(t, posts[0], "jetsource-writer", "the default service name")
	assert.Contains(t, posts[0], "deployment.environment", "OTEL_RESOURCE_ATTRIBUTES")
}

// A malformed OTEL_RESOURCE_ATTRIBUTES stops the start with an error that
// names it.
func TestStartTracingRefusesMalformedResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")
	_, err := service.StartTracing(context.Background(), "writer", env(map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}), slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "OTEL_RESOURCE_ATTRIBUTES")
}
