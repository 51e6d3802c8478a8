// Package writer is the command side of jetsource: a NATS micro service,
// jetsource-writer, with one endpoint per command on cmd.<type>.<command>,
// served in a queue group so that several writers share the load.
//
// # The model
//
// A command arrives as a request (DESIGN §2):
//
//	{"aggregate_id": "acc-52", "command_id": "…", "expected_version": 3, "data": {"amount": 100}}
//
// and flows: decode strictly (DecodeRequest; the id is checked before any
// subject is built) -> load the aggregate -> decide its events with the
// aggregate's Definition -> append them at the position the decision was
// made on -> reply with the new version and the stream sequence of the last
// event. The append carries the expected position, so when another writer
// got there first the store refuses it: without expected_version the writer
// reloads and decides again (bounded, jittered retries, then 409); with it
// the reply is 409. A command that decides no events is a success with the
// current version and sequence and no events.
//
//	w, err := writer.New(nc, store)
//	err = writer.Register(w, account.Definition())
//	err = w.Serve(ctx) // until ctx is done, then drains
//
// # Concurrency
//
// A micro endpoint hands over one message at a time, so its handler only
// decodes and routes: each command goes to one of a fixed pool of workers
// chosen by a hash of its aggregate type and id. Commands of one aggregate
// run in order while others run in parallel.
//
// The writer sheds load rather than let it pile up: a command whose worker's
// queue is full is answered 503 at once ("the writer is full; nothing was
// done"), and one that waited in the queue longer than WithMaxQueueWait
// (default 3s) is answered 503 and not executed, since its client has likely
// given up. Each endpoint's subscription buffers at most WithPendingLimits
// messages and bytes; past them NATS drops requests (a slow consumer), which
// is logged and counted in jetsource_writer_slow_consumer_total. Each worker keeps a small LRU cache of the
// aggregates it loaded; a stale entry costs one conflict and a reload, never
// a wrong result, since the store's concurrency check keeps it honest. What
// that check never sees (an expected_version that differs, a refusal, a
// decision with no events) is decided again on the store's state before it
// is answered. After an append, the cached state is the one a load would
// fold: the events just stored are folded from their decided values only
// where their payloads decode back to those values (codec.Encoded.RoundTrips),
// and decoded from their payloads otherwise.
//
// # Idempotency
//
// With a command_id, exactly one attempt runs the command, on any writer,
// and its first outcome is kept in the COMMANDS key-value bucket
// (DefaultCommandsTTL): a command sent again gets that outcome back and
// appends nothing, also after later commands and writer restarts. The first
// outcome is a success reply or a refusal (404 not_found, 409 conflict, 422
// rejected); a refusal is kept too, so a withdrawal refused for want of funds
// stays refused for its command_id even after a deposit. Transient answers
// (503, a 409 that gave up after conflict retries, 500) keep nothing: a
// resend runs the command again.
//
// The attempt first claims the command_id with a create-only "pending"
// record. A twin (the same command_id) that finds it pending waits for the
// outcome until its own deadline, then answers 503 ("still running; send it
// again") having done nothing; a claim older than WithStaleClaim (default
// three times the command timeout) belongs to an attempt that died or hung,
// and a twin takes it over, conditionally on its revision. The event ids
// (Nats-Msg-Id) are derived from the command_id ("<id>-<index>"), so an
// attempt that wakes after a takeover, or a resend after a crash between the
// append and keeping the outcome, is dropped by JetStream's duplicate window
// and its reply rebuilt from the stored events carrying the command_id.
// Whatever an attempt did not store itself (a refusal, a duplicate, a
// decision with no events) is checked against the store before it is
// answered or kept: when the command's events are there, the answer is the
// reply of the attempt that stored them, byte for byte; when the store
// cannot be read the answer is 503, never a refusal it could not confirm. A
// command_id used for another command or aggregate is answered 409.
//
// # Unique keys
//
// A command declared with aggregate.Unique (user registration's username)
// reserves its key in the UNIQUE bucket with create-only semantics before
// appending, so that of two aggregates racing for one key exactly one wins.
// The entry names the aggregate and the command (its events' id prefix and
// the position it was decided on), so the writer can tell whether that
// command stored its events. An append that did not store them gives the
// key back on every path (a conflict answered "already exists", a
// duplicate, any error), unless a twin of the command stored them; only an
// append whose outcome is unknown keeps it. An entry older than
// WithStaleReservation (default 1m) whose command stored nothing is taken
// over, conditionally on its revision; its old holder re-checks the revision
// right before appending (a fence), so a holder that paused past the
// takeover does not append with the key. A store that cannot be read while
// a key is reserved or checked answers 503, never 409 "taken".
//
// # Errors and the truth of replies
//
// Errors set the micro headers Nats-Service-Error-Code and Nats-Service-Error
// and the body {"error": {"code": …, "message": …}}: 400 bad_request,
// 404 not_found, 409 conflict, 422 rejected, 503 unavailable, 500 internal
// (logged with its details; the reply says little). A panic in an
// aggregate's Decide or Evolve is such a bug: one wrapper around the
// handling of each command recovers it, the command is answered 500
// internal, the panic is logged with its stack, and the writer keeps
// serving. A success is sent only
// for events the store acknowledged, and a 503 only when nothing was stored.
// When the store does not confirm an append (a timeout), the writer sends the
// same events again, with the same ids and expected position, to learn what
// happened; if it still cannot tell, it does not answer at all and the
// client's request times out: an outcome it cannot know it does not claim.
// Resending with the same command_id is then safe.
//
// The service answers the micro protocol's PING, INFO and STATS (package
// internal/microsvc, as micro's own, since micro counts a request when its
// handler returns, here before the worker ran it): $SRV.STATS counts each
// command when it is answered, with its whole handling (queue and worker)
// as processing_time, and every error reply (4xx and 5xx, 404 and 409
// included, as micro counts every Error reply) and every command left
// unanswered (outcome unknown, or a reply subject the writer writes to) in
// num_errors. jetsource_writer_commands_total agrees: its outcomes other
// than ok are the errors.
//
// Give the writer a NATS connection made with nats.ReconnectBufSize(-1): a
// publish while disconnected then fails at once instead of being buffered
// and sent after the reconnect, behind the back of a request that was
// answered meanwhile.
//
// # Shutdown
//
// When Serve's context is done the service stops taking requests (its
// subscriptions are drained), the requests already received are handed to
// the workers, every command taken is finished and answered, and Serve
// returns nil.
//
// Command data is never logged (it may hold a password); each command is
// logged at debug level with its type, aggregate, outcome and duration.
// WithMetrics registers Prometheus counters of commands by type, command and
// outcome, a latency histogram, and counters of appended events and conflict
// retries.
//
// # Tracing
//
// Each command request is a span (cmd.<type>.<command>, kind server) that
// continues the W3C trace context (traceparent, tracestate) of the request's
// headers, with the aggregate type and id, the command and the outcome code;
// a failure of the writer (503, 500) sets its error status, a refusal does
// not. Every event the command appends carries the span's trace context in
// its traceparent and tracestate headers (see package tracing). Spans come
// from WithTracerProvider, the global provider by default: no-ops until a
// program sets one.
package writer
