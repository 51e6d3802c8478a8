// Package projections keeps Redis read models up to date from the event
// store: the query side of jetsource.
//
// # Model
//
// A Projection is a name, the subjects it follows (e.g. events.account.>)
// and a handler, Apply(ctx, tx, event), that turns one event into Redis
// writes queued on tx, every key named with tx.Keys (the key space of the
// generation being written; the runner owns prefixes and generations).
// Handlers write blind (HSET, HINCRBY, ZADD …); one that must read its own
// model sets ReadsModel and reads through tx.Read(), at the cost of one
// transaction per event instead of one per batch. Decoding adapts a switch
// on typed events, decoded (and upcast) with a domain's codec registry.
//
// Queries read a model through a View (Views, Read): every read is a Lua
// ReadScript whose KEYS are all the keys it touches, run atomically with a
// check that the generation is still the one read and a read of its
// checkpoint, so an answer never mixes generations and says which stream
// sequence it reflects. The domains define their models and queries; this
// package knows none of them. A Runner owns one
// durable JetStream consumer per projection and applies events in batches:
// each batch's writes and the projection's checkpoint (the last applied
// stream sequence) go to Redis in one MULTI/EXEC, guarded by WATCH on the
// checkpoint and the runner's lease, so a crash, a redelivery, a restart or a
// second runner never applies an event twice. Events at or below the
// checkpoint are skipped. At start the runner positions its consumer after
// the checkpoint kept in Redis, not where the consumer was; without a
// checkpoint (Redis flushed or replaced) it rebuilds from the start of the
// stream by itself.
//
// # A lost checkpoint
//
// A checkpoint can vanish while the model stays (an eviction, a DEL, a
// partial restore). Replaying onto the old keys would apply events twice,
// so a runner that finds its generation with keys but no checkpoint (or a
// checkpoint but no versions hash) points the projection at an empty new
// generation, fenced by its lease, deletes the old one and builds the new
// one from the start of the stream; queries see the model come back as it
// catches up, as after a FLUSHALL. The runner notices while idle too: each
// lease renewal (one per fetch) also checks that the checkpoint it believes
// in still exists.
//
// # No gaps
//
// A durable consumer hands its deliveries to whoever pulls: a stray client
// pulling on it, a pull a runner sent before it lost its lease and NATS
// replayed after a reconnect, a consumer leader change. The runner therefore
// checks every delivery before it acknowledges anything (acknowledgements
// are AckAll, so one ack past a hole would lose the events in it): each
// delivery must carry the next consumer sequence, be delivered for the first
// time, and come later in the stream than the one before; an empty fetch
// checks that the consumer delivered nothing the runner did not see. On any
// gap the runner logs a warning, counts it in
// jetsource_projection_gaps_total{projection}, and starts over from the
// checkpoint with a fresh consumer, so a gap costs a re-fetch, never an
// event. Batching is unchanged: the checks use the metadata each message
// carries.
//
// # One active runner
//
// Several projector processes may run the same projections: a lease key in
// Redis (SET NX PX, renewed while the runner works) makes one of them active
// per projection, and the others take over within the lease time when it
// dies. The WATCH fence makes a runner that lost its lease unable to write.
//
// # Generations and rebuilds
//
// A projection's keys live under a generation:
//
//	jetsource:proj:{<name>}:gen                  current generation number
//	jetsource:proj:{<name>}:lease                id of the active runner
//	jetsource:proj:{<name>}:rebuild              lock of the one rebuild that may run
//	jetsource:proj:{<name>}:status               hash: state, sequence, subject, type, error
//	jetsource:proj:{<name>}:g<N>:checkpoint      last applied stream sequence
//	jetsource:proj:{<name>}:g<N>:reached         stream sequence the model is known to reflect
//	jetsource:proj:{<name>}:g<N>:versions        hash: aggregate subject -> last applied version
//	jetsource:proj:{<name>}:g<N>:<model keys>    the read model
//
// Rebuild builds generation N+1 from the start of the stream while N keeps
// answering queries, switches the pointer in one SET once N+1 has caught up,
// and deletes N's keys. Queries read the pointer and the model in one Lua
// script, so a switch never shows them half a model.
//
// One rebuild of a projection runs at a time, whatever the number of
// projectors: Rebuild takes the rebuild lock (SET NX PX with the lease TTL,
// renewed while it runs, released at the end; the switch is fenced by it)
// and fails with ErrRebuildRunning while another holds it, and with
// ErrUnknownProjection for a name it does not run. A runner moving to a
// fresh generation after a lost checkpoint takes the same lock. The
// projector serves rebuild requests on jetsource.projector.rebuild.<name> in
// a queue group (package service): 409 conflict while one runs, 404
// not_found for an unknown projection. A rebuild reads the stream through
// its own consumer (jetsource_[<deployment>_]rebuild_<name>) with the same gap checks as a
// live runner.
//
// # Partitions
//
// A projection whose Partitions is n > 1 is split by aggregate into n
// partitions: the events of aggregate <type>.<id> belong to partition
// PartitionOf(ref, n) (FNV-1a of "<type>.<id>" mod n), so that the order of
// each aggregate's events is kept. Each partition is run as a projection of
// one partition is: its own durable consumer
// (jetsource_[<deployment>_]proj_<name>-<p>), checkpoint, lease, generation,
// versions hash, status and lost-checkpoint recovery, all under the hash
// tag {<name>/<p>}, so that one MULTI/EXEC (the same WATCH fence) touches one
// partition's keys only and exactly-once holds per partition. A partition's
// consumer delivers every event of the projection's subjects; the runner
// skips the other partitions' events (without decoding them), and they move
// its checkpoint on all the same, so that every partition's checkpoint and
// reached are stream sequences like a whole projection's.
//
// Why the split is not made by the server: JetStream filters consumers by
// subject, and the partition is not a subject token. A consumer per
// partition filtering on a partition token would need the token in the
// stored subject (a subject transform of the stream, events.<type>.<id> ->
// events.<p>.<type>.<id>, changing the subjects every reader sees and fixing
// n for the life of the stream), which this design does not do. The cost of
// the client-side split is delivery: n partitions deliver each event n
// times (BenchmarkPartitionedProjection measures it); the applied writes
// and the Redis round trips, which dominate a projection's cost, are split.
// A deployment whose delivery becomes the limit splits its events over
// several streams by aggregate type instead (each stream with its own
// projections).
//
// The partition count is recorded in jetsource:proj:{<name>}:partitions
// (absent: one). A runner configured with another count for a projection
// whose read model exists refuses to start (ErrPartitionCount): a count
// cannot change in place, since every aggregate would move partition. To
// change it, delete the projection's keys (or rename the projection) and
// let the runner build it afresh from the stream.
//
// The runners of a deployment share the partitions: each runner heartbeats
// into jetsource:proj:{<name>}:members (a sorted set expiring within the
// lease TTL) and holds at most its fair share, ceil(n / live runners), of
// the partition leases. A runner that joins makes the others' share shrink:
// each releases its extra partitions (and leaves them alone for a lease
// TTL) and the newcomer takes them; a runner that dies stops heartbeating
// and renewing, and the others take its partitions once its leases expire,
// within about one lease TTL. The lease and the WATCH fence are those of a
// projection of one partition, so a runner that lost a partition's lease
// cannot write to it. Projections of one partition are not shared out:
// any runner takes their lease, as before.
//
// Rebuild rebuilds every partition (each takes its rebuild lock, builds its
// next generation from its own rebuild consumer and switches alone once
// caught up). Inspect reports each partition and sums them up (the lowest
// checkpoint and reached; failed if one failed), Lag is the largest lag of
// the partitions, Reached the lowest reached. Queries read a partitioned
// projection through its View: View.For(type, id) is the view of the one
// partition of an aggregate, View.Part(p) of partition p, and Merge runs a
// list query on every partition and merges the answers with the query's
// order and limit (account.list, product.low_stock). A read-your-writes
// wait of a query with a required ID parameter waits for that aggregate's
// partition only (package reader).
//
// # Keys
//
// A projection's keys live under jetsource:proj:{<name>}: (partition p of
// several: jetsource:proj:{<name>/<p>}:, see PartitionKeys) its generation
// pointer (gen), lease, status, rebuild lock, and per generation g<N>: its
// checkpoint, reached, versions (the last applied version of each aggregate)
// and the model's own keys, tx.Keys.Key(parts…) = …:g<N>:<parts joined by
// ':'>. The sample domains document theirs (domain/account/readmodel.go …).
//
// # Reached
//
// The reader's read-your-writes waits on reached: the checkpoint after each
// batch and, when the consumer has nothing pending, the stream's last
// sequence read just before, so a projection whose filter skips the events
// around a sequence still counts as having reached it.
//
// # Failures
//
// A handler error is retried (Options.MaxRetries, default 5; NoRetries for
// none) with a doubling backoff (Options.RetryBackoff, default 200 ms), the
// runner renewing its lease meanwhile so that no other runner takes over
// the projection mid-retry; a runner that loses its lease stops retrying. If
// the event keeps failing, that projection stops at it: its status hash says
// failed and names the event (sequence, subject, type, error), the log says
// the same, the gauge jetsource_projection_failed is 1, and the others carry
// on. The stopped runner keeps its lease, so that no other projector retries
// the event over and over; restarting the projector (or a rebuild that
// switches the generation) tries again. It never skips an event.
//
// An event whose Es-Version does not follow the last one applied of its
// aggregate (a forged or repeated version, a lost event, a first event whose
// version is not 1) is a poison event for every projection that sees it,
// without retries: it is never applied, and the status names it with a
// *VersionError (ErrVersionSequence). The runner knows no domain: it keeps,
// per generation, the versions hash (one field per aggregate it has seen),
// read with HMGET inside the WATCH of each batch and written in its
// MULTI/EXEC, so the check costs no extra round trip.
//
// A panic in Apply is a handler error too: a small wrapper recovers it, logs
// it with its stack, and turns it into an error wrapping ErrPanic; the
// process keeps running.
//
// Each event a live runner applies gets a span ("apply <projection>", kind
// consumer), the child of the trace context the event carries (its
// traceparent header): it covers the Redis transaction the event goes in, so
// one trace runs from the command to the Redis write. Apply's context is
// that span's. Rebuilds make no spans. WithTracerProvider (default: the
// global provider) makes them.
package projections
