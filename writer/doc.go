// Package writer is the command side of jetsource: a NATS micro service,
// jetsource-writer, with one endpoint per command on cmd.<type>.<command>.
//
// A command arrives as a request (DESIGN §2):
//
//	{"aggregate_id": "acc-52", "command_id": "…", "expected_version": 3, "data": {"amount": 100}}
//
// and flows: decode strictly -> load the aggregate (a per-worker cache of
// recently used aggregates, kept honest by the store's concurrency check) ->
// decide the events with the aggregate's Definition -> append them with the
// position the decision was made on -> reply with the new version and the
// stream sequence. When another writer got there first the append is refused;
// without expected_version the writer reloads and decides again (bounded,
// jittered retries), with it the reply is 409.
//
// # Concurrency
//
// A micro endpoint hands over one message at a time, so the handler only
// decodes and routes: each request goes to one of a fixed number of workers
// chosen by a hash of its aggregate, so commands of one aggregate run in
// order while others run in parallel, and the bounded queues push back
// rather than grow. Several writers share the load through the queue group.
//
// # Idempotency
//
// With a command_id, the reply is kept in the COMMANDS key-value bucket and a
// command sent again gets the first reply back, appending nothing, also after
// a writer restart. The event ids (Nats-Msg-Id) are derived from the
// command_id, so a retry that races the first attempt, or follows a crash
// between the append and the reply being kept, is dropped by JetStream's
// duplicate window and its reply rebuilt from the stored events.
//
// # Unique keys
//
// A command declared with aggregate.Unique (user registration's username)
// reserves its key in the UNIQUE bucket with create-only semantics before
// appending, so two registrations of one username cannot both succeed.
//
// # Errors
//
// Errors set the micro headers Nats-Service-Error-Code and Nats-Service-Error
// and the body {"error": {"code": …, "message": …}}: 400 bad_request,
// 404 not_found, 409 conflict, 422 rejected, 503 unavailable, 500 internal.
//
// Give the writer a NATS connection made with nats.ReconnectBufSize(-1): a
// publish while disconnected then fails at once instead of being sent later,
// after its request was already answered with 503.
package writer
