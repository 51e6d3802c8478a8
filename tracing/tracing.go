// Package tracing carries OpenTelemetry traces across jetsource's hops: the
// W3C trace context (traceparent, tracestate) of an HTTP request goes into
// the NATS request the gateway sends, from the NATS request into the
// writer's command span, from there into the headers of the events the
// command appends (streams.HeaderTraceParent, streams.HeaderTraceState), and
// from an event into the span of each projection that applies it. One trace
// thus runs from the HTTP request to the Redis write.
//
// The writer, the reader, the projections and the gateway take a
// trace.TracerProvider option (default: the global one, otel.GetTracerProvider,
// a no-op until a program sets one); package service sets the global
// provider up from the standard OTEL_ environment variables. The trace
// context travels in the W3C format (Propagator), whether or not spans are
// recorded: a process that records none still passes on the traceparent it
// was given.
package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/streams"
)

// Scope is the instrumentation scope of jetsource's tracers.
const Scope = "github.com/jetsource/jetsource"

// Propagator reads and writes the W3C trace context (traceparent and
// tracestate), the format the contract names for event headers.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Tracer returns jetsource's tracer of tp, or of the global provider when tp
// is nil. A tracer of the global provider follows it: one set later (by
// otel.SetTracerProvider) takes over.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(Scope)
}

// Header is a NATS message header as a propagation.TextMapCarrier. NATS
// header names are case-sensitive, so the W3C names go in as they are, in
// lower case (http.Header's carrier would capitalise them).
type Header nats.Header

// Get returns the first value of key.
func (h Header) Get(key string) string { return nats.Header(h).Get(key) }

// Set sets key to value.
func (h Header) Set(key, value string) { nats.Header(h).Set(key, value) }

// Keys lists the header's names.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx carrying the remote span context of the W3C headers of
// a NATS message; ctx itself when they carry none or a malformed one (a
// malformed traceparent is ignored: the span started from ctx is then a new
// root, never an error).
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, Header(h))
}

// Inject writes the trace context of ctx into h, when ctx has a valid one.
func Inject(ctx context.Context, h nats.Header) {
	Propagator.Inject(ctx, Header(h))
}

// Event is the trace context of an event: its traceparent and tracestate
// header values, as a propagation.TextMapCarrier.
type Event struct {
	TraceParent, TraceState string
}

// Get returns the value of the W3C header key.
func (e *Event) Get(key string) string {
	switch key {
	case streams.HeaderTraceParent:
		return e.TraceParent
	case streams.HeaderTraceState:
		return e.TraceState
	}
	return ""
}

// Set sets the W3C header key; other keys have no place in an event's trace
// context and are dropped.
func (e *Event) Set(key, value string) {
	switch key {
	case streams.HeaderTraceParent:
		e.TraceParent = value
	case streams.HeaderTraceState:
		e.TraceState = value
	}
}

// Keys lists the W3C header names.
func (e *Event) Keys() []string {
	return []string{streams.HeaderTraceParent, streams.HeaderTraceState}
}

// AppendOption records the trace context of ctx on the events of an append
// (streams.WithTrace); with none in ctx the events carry no trace headers.
func AppendOption(ctx context.Context) streams.AppendOption {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return untraced
	}
	var e Event
	Propagator.Inject(ctx, &e)
	return streams.WithTrace(e.TraceParent, e.TraceState)
}

// untraced is the append option of a context without trace context: none.
var untraced = streams.WithTrace("", "")

// FromEvent returns ctx carrying the remote span context an event was
// appended in; ctx itself when it carries none or a malformed one.
func FromEvent(ctx context.Context, ev streams.Recorded) context.Context {
	if ev.TraceParent == "" {
		return ctx
	}
	return Propagator.Extract(ctx, &Event{TraceParent: ev.TraceParent, TraceState: ev.TraceState})
}

// End ends span, with an error status when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
