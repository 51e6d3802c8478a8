package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/jetsource/jetsource/streams"
)

// ErrPanic marks the error of a handler that panicked: the event is a
// poison event for that projection, retried and then reported like any
// handler error.
var ErrPanic = errors.New("handler panicked")

// recoverer wraps a projection's Apply so that a panic in it becomes an
// error wrapping ErrPanic, logged with its stack, and the process keeps
// running.
func recoverer(p Projection, log *slog.Logger) Projection {
	apply := p.Apply
	p.Apply = func(ctx context.Context, tx *Tx, ev streams.Recorded) (err error) {
		defer func() {
			if v := recover(); v != nil {
				log.Error("projection handler panicked", "projection", p.Name, "sequence", uint64(ev.Sequence),
					"subject", ev.Ref.Subject(), "type", ev.Type, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = fmt.Errorf("%w: %v", ErrPanic, v)
			}
		}()
		return apply(ctx, tx, ev)
	}
	return p
}
