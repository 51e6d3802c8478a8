package gateway

import (
	"log/slog"
	"time"

	"github.com/jetsource/jetsource/reader"
)

// Option changes one setting of a Gateway (functional options, as the other
// packages take); a setting left out means its default.
type Option func(*Options)

// WithMaxBodyBytes sets the largest request body (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option { return func(o *Options) { o.MaxBodyBytes = n } }

// WithTimeout bounds one forwarded request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithQueries tells the gateway the queries the readers serve: their
// declared parameter types say which travel as JSON numbers.
func WithQueries(qs ...reader.Query) Option {
	return func(o *Options) { o.Queries = append(o.Queries, qs...) }
}
