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
//     rebuild and status subjects; never publishes events.
//   - reader: serves query.>; reads the stream's info (its last sequence)
//     and the info of the projector's live consumers (how many events each
//     projection has still to apply, for its readiness).
//   - gateway and client: send commands (cmd.>) and queries (query.>) and
//     receive their own replies; nothing else. A gateway with the event
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
