package projections

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/tracing"
)

// applySpan starts the span of every event applied: it consumes a message.
var applySpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// applySpans are the spans of the events of one commit, one per event, each
// the child of the trace context its event carries (the command that
// appended it), so that one trace runs from the command to the Redis write.
// They cover the whole Redis transaction: the fenced reads, MULTI/EXEC.
type applySpans struct {
	ctxs  []context.Context
	spans []trace.Span
}

// startApply starts the spans of events for a live runner; a rebuild, which
// replays old events in bulk, makes none (nil).
func (r *Runner) startApply(ctx context.Context, projection string, t *target, events []streams.Recorded) *applySpans {
	if t.lease == "" || len(events) == 0 {
		return nil
	}
	name := "apply " + projection
	a := &applySpans{ctxs: make([]context.Context, len(events)), spans: make([]trace.Span, len(events))}
	for i, ev := range events {
		if t.only != nil && !t.only(ev.Ref) {
			// Another partition's: no span of this one.
			a.ctxs[i], a.spans[i] = ctx, trace.SpanFromContext(context.Background())
			continue
		}
		a.ctxs[i], a.spans[i] = r.tracer.Start(tracing.FromEvent(ctx, ev), name, applySpan...)
		if a.spans[i].IsRecording() {
			a.spans[i].SetAttributes(
				attribute.String("jetsource.projection", projection),
				attribute.String("jetsource.aggregate.type", ev.Ref.Type()),
				attribute.String("jetsource.aggregate.id", ev.Ref.ID()),
				attribute.String("jetsource.event.type", ev.Type),
				attribute.Int64("jetsource.event.version", int64(ev.Version)),
				attribute.Int64("jetsource.event.sequence", int64(ev.Sequence)),
				attribute.String("db.system.name", "redis"))
		}
	}
	return a
}

// ctx is the context of event i's Apply: its span's.
func (a *applySpans) ctx(ctx context.Context, i int) context.Context {
	if a == nil {
		return ctx
	}
	return a.ctxs[i]
}

// end ends the spans once the transaction is done; err (the commit's) means
// that none of the events went in: the one the handler refused gets its
// error, the others the reason they wait to be applied again.
func (a *applySpans) end(err error) {
	if a == nil {
		return
	}
	var bad *badEvent
	errors.As(err, &bad)
	for i, span := range a.spans {
		if err != nil && span.IsRecording() {
			span.SetAttributes(attribute.Bool("jetsource.applied", false))
			if bad != nil && bad.index == i {
				span.SetStatus(codes.Error, bad.err.Error())
			} else {
				span.SetStatus(codes.Error, "not applied: "+err.Error())
			}
		}
		span.End()
	}
}
