package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/jetsource/jetsource/tracing"
)

// TracingShutdownTimeout bounds the flush of the spans still buffered when a
// process stops.
const TracingShutdownTimeout = 5 * time.Second

// TracingEnabled reports, from the standard OpenTelemetry environment
// variables, whether a process exports traces. Tracing is off unless asked
// for: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with
// OTEL_TRACES_EXPORTER unset. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off whatever else is set. The exporter
// speaks OTLP over HTTP (protobuf): another OTEL_TRACES_EXPORTER or
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL is an error that names it.
func TracingEnabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	var on bool
	switch exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exporter {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
		on = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q is not supported: jetsource exports traces with otlp, or none", exporter)
	}
	if !on {
		return false, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%s=%q is not supported: jetsource's OTLP exporter speaks http/protobuf (a collector's port 4318)", name, p)
			}
			break // the traces' own setting wins
		}
	}
	return true, nil
}

// StartTracing sets up the global tracer provider (otel.SetTracerProvider)
// of process name when the environment asks for traces (TracingEnabled):
// spans batched to an OTLP/HTTP exporter, configured by the standard
// OTEL_EXPORTER_OTLP_* variables, with the resource of OTEL_SERVICE_NAME
// (default jetsource-<name>) and OTEL_RESOURCE_ATTRIBUTES, and the sampler
// of OTEL_TRACES_SAMPLER (default: parent-based, always on). The exporter
// and the resource read the process environment itself. Otherwise it sets
// nothing: the global provider stays a no-op. The returned function flushes
// and stops the provider; call it once the process is done.
func StartTracing(ctx context.Context, name string, getenv func(string) string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	on, err := TracingEnabled(getenv)
	if err != nil || !on {
		return none, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "jetsource-"+name)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: after, so they win
		resource.WithTelemetrySDK())
	if err != nil {
		return none, fmt.Errorf("tracing resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return none, fmt.Errorf("tracing: OTLP exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(tracing.Propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: spans not exported", "error", err)
	}))
	log.Info("tracing on: spans go to the OTLP exporter", "service_name", serviceName(res))
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("tracing: flush: %w", err)
		}
		return nil
	}, nil
}

// serviceName is the service.name of res.
func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value("service.name")
	return v.AsString()
}
