// Package permissions is jetsource's least-privilege model for NATS: what
// each role may publish and subscribe to, and the nats-server authorization
// block that grants it (`jetsource nats-config` prints it).
//
// Without permissions any NATS connection can publish a forged event on
// events.<type>.<id>, read users' plain passwords on cmd.user.>, read other
// connections' replies on _INBOX.> and start a rebuild. With them:
//
//   - writer: the only role that may publish to events.> and the only one
//     that receives commands (cmd.>, so the plain passwords of cmd.user.>
//     reach the writer and nobody else); the event stream's own JetStream
//     API (create, info, direct and leader reads) and its buckets
//     (snapshots, COMMANDS, UNIQUE).
//   - projector: creates, reads, deletes and pulls from its own consumers
//     only (jetsource_[<deployment>_]proj_<projection> and
//     jetsource_[<deployment>_]rebuild_<projection>); serves its deployment's
//     rebuild and status subjects; publishes the live queries' notices of
//     its deployment (jetsource.[<deployment>.]live.notice.<projection>);
//     may run the process managers (the manager role's rights); never
//     publishes events.
//   - reader: serves query.>; reads the stream's info (its last sequence)
//     and the info of the projector's live consumers (how many events each
//     projection has still to apply, for its readiness). Serves the live
//     queries (package live): receives their subscribe requests
//     (live.<model>.<name>) and its deployment's notices, provisions the
//     answers' stream LIVE[_<deployment>], appends to its answer subjects
//     live.answer[_<deployment>].> and reads their last answer (direct gets).
//   - manager: runs the process managers Deployment.Processes names
//     (package process): its durable consumers of the event streams
//     (jetsource_[<deployment>_]pm_<process>) and of the timer stream
//     (…_timers); the timer stream's provisioning and the deletion of a
//     handled fired timer; the schedules of its own processes'
//     timers (timers.<process>.at.>, never a fired timer); the store's
//     opening and the reads of a load (direct gets, snapshots and keys read,
//     never written); and commands (cmd.>, replies on its inbox). It never
//     publishes events and receives nothing but its replies.
//   - gateway and client: send commands (cmd.>) and queries (query.>) and
//     receive their own replies; subscribe to live queries
//     (live.<model>.<name>) and follow their answers with ordered consumers
//     of the answers' stream (create, pull, delete), never writing to it;
//     nothing else. A gateway with the event
//     browser (gateway.browser) also reads the event stream (info, direct
//     gets, reads of the snapshot and key buckets, never writes), follows it
//     with ordered consumers of its own (any name but the projectors'
//     consumers, which its deny list names), and asks the projectors'
//     status subject.
//   - admin: everything, rebuilds included (jetsource.projector.rebuild.>,
//     jetsource.<deployment>.projector.rebuild.>), except reading cmd.user.>.
//
// Every user receives replies on its own inbox prefix only, _INBOX.<user>
// (nats.CustomInboxPrefix in a client, nats.inbox_prefix in a service), so
// no connection can read another's replies or the projector's deliveries.
// The services answer requests by publishing to _INBOX.>, not with
// allow_responses: allow_responses lets a responder publish to whatever
// reply subject a request names, even a subject its deny list forbids, so a
// client could make the reader publish into events.>.
package permissions
