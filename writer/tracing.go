package writer

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/tracing"
)

// commandSpan starts the span of every command request: it serves a request.
var commandSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// startSpan starts the span of a command request on subject, continuing the
// trace of the request's traceparent header (a new root without one, or with
// a malformed one). The events the command appends carry its trace context.
func (w *Writer) startSpan(subject string, h nats.Header) (context.Context, trace.Span) {
	return w.tracer.Start(tracing.Extract(context.Background(), h), subject, commandSpan...)
}

// endSpan records a command's outcome on its span and ends it. As for an
// HTTP server span, a refusal of the client's command (4xx) is an outcome,
// not an error of the writer: only a failure of the writer (503, 500, an
// unknown outcome) sets the error status.
func endSpan(span trace.Span, typ, command, id, outcome string, err error) {
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("jetsource.aggregate.type", typ),
			attribute.String("jetsource.aggregate.id", id),
			attribute.String("jetsource.command", command),
			attribute.String("jetsource.outcome", outcome))
		if err != nil && writerFault(outcome) {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// writerFault reports whether a command's outcome code is a failure of the
// writer rather than a refusal of the command.
func writerFault(outcome string) bool {
	switch outcome {
	case CodeBadRequest, CodeNotFound, CodeConflict, CodeRejected:
		return false
	}
	return outcome != "ok"
}
