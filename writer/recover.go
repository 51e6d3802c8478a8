package writer

import (
	"context"
	"fmt"
	"runtime/debug"
)

// PanicError is a panic in user code (an aggregate's Decide or Evolve)
// recovered while handling one command: that command is answered 500
// internal and the writer keeps serving.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// recovering wraps a command handler so that a panic in it becomes a
// *PanicError for that command instead of ending the process. It is the one
// place where the writer recovers: aggregates' code runs only inside it.
func recovering(handle func(context.Context, *aggCache, *job) (Reply, error)) func(context.Context, *aggCache, *job) (Reply, error) {
	return func(ctx context.Context, cache *aggCache, j *job) (reply Reply, err error) {
		defer func() {
			if v := recover(); v != nil {
				// The aggregate's cached state may be half-built.
				cache.drop(j.key)
				reply, err = Reply{}, &PanicError{Value: v, Stack: debug.Stack()}
			}
		}()
		return handle(ctx, cache, j)
	}
}
