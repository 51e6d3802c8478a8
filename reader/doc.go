// Package reader is the query side's front: a NATS micro service,
// jetsource-reader, answering query.<model>.<name> from the Redis read
// models, never from the event store (DESIGN §3).
//
// The reader knows no domain: each query is a registered Query (Register), a
// model, a name, its declared parameters (JSON type, required, bounds, id
// checks; anything else is a 400 naming it) and a Read function that answers
// from a projections.View of its projection's current generation. Every
// registered query gets the rest for free: read-your-writes waits, the
// atomic generation-checked read (run again when a rebuild switches
// generation mid-read), 404 for projections.ErrNotFound, 503 when Redis
// cannot be reached, 500 for a bug or a panic, and metrics.
//
// A request holds the query's parameters plus, optionally, min_sequence and
// wait_ms: the reader then waits until the projections behind the model have
// reached that stream sequence (read-your-writes) and answers 503 stale if
// they have not within wait_ms. A reply is {"data": …, "sequence": <the
// checkpoint the answer reflects>}; errors are as the writer's: micro error
// headers and {"error": {"code", "message"}}.
//
// # Waits
//
// Waiting costs the other queries nothing. A query whose projections have
// already reached its min_sequence, or that has none, never queues behind
// the waiting ones: a wait gives its read slot back while it waits. When the
// reader knows the end of the event stream (Options.LastSequence), a
// min_sequence beyond it answers 503 stale at once, since no write of the
// client's can be behind it. At most Options.MaxWaits queries wait for one
// model at once; more answer 503 unavailable at once. The waiters of one
// projection share one poll of how far it has reached, not one each.
// jetsource_reader_waits_total counts the waits by outcome and
// jetsource_reader_waiting the queries waiting now.
//
// A projection that stopped on a poison event still answers from what it
// has; waits on a sequence past the poison end in 503 stale, whose message
// says the projection failed.
//
// # Stopping and failing
//
// Serve drains when its context is done: the service stops taking requests,
// and the queries already received are answered within their own deadline
// (wait_ms plus Options.ReadTimeout), never cut short with 500 internal.
//
// A query that panics is answered 500 internal; the panic is logged with its
// stack and the reader keeps serving.
//
// # Statistics
//
// The service answers the micro protocol's PING, INFO and STATS (package
// internal/microsvc, since micro counts a request when its handler returns,
// before the query ran): $SRV.STATS counts each query when it is answered,
// with its whole handling (its wait included) as processing_time, and every
// error reply (400 to 503, 404 included, as micro counts every Error reply)
// in num_errors. jetsource_reader_query_seconds agrees: one observation per
// query, from the same start, and its outcomes other than ok are the errors.
//
// # Tracing
//
// Each query is a span (query.<model>.<name>, kind server) that continues
// the trace context of the request's traceparent header, with the outcome
// code; WithTracerProvider (default: the global provider) makes them.
package reader
