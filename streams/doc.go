// Package streams is the event store of jetstream: aggregates' event streams
// kept in one NATS JetStream stream, with optimistic concurrency, atomic
// multi-event appends, snapshots and time travel.
//
// # Model
//
// Every aggregate is identified by a Ref, its type and id, and owns the
// subject events.<type>.<id> of the stream (default EVENTS). Its events carry
// versions 1, 2, 3 … with no gap or repeat. A Ref can only be made by NewRef,
// which validates both parts, so a hostile id can never widen or redirect a
// subject.
//
// The store never updates or deletes: the stream is created with DenyDelete
// and DenyPurge, and Provision refuses an existing stream whose settings would
// let events be removed.
//
// # Layout: one stream or several
//
// By default one stream (EVENTS) captures events.>. A Layout (WithLayout)
// spreads the events over several streams by aggregate type, a bounded
// context per stream: each stream captures events.<type>.> of its types and
// is its own Raft group with its own leader, so a cluster spreads the write
// load over its nodes (Open moves leaders apart when NATS elected two on
// one node). Every path of the store (appends, every read, LeaderSequence,
// voids) goes to the stream of the aggregate's type (StreamOf); a type in no
// stream is refused with ErrUnroutedType. Each stream records the layout in
// its metadata, and Open refuses with ErrLayoutChanged a layout other than
// the one the server holds: changing it would re-route existing aggregates.
// Sequences are then per stream; FormatPosition and ParsePosition write and
// read the read-your-writes token "<stream>:<sequence>".
//
// # Positions: versions and sequences
//
// A Position is where an aggregate stands: its Version (how many events it
// has) and the stream Sequence of its last event. Append takes the Position
// the caller decided on and sends Nats-Expected-Last-Subject-Sequence with
// its Sequence, so the server itself refuses an append when another writer got
// there first; the store reports that as a *ConflictError (JetStream errors
// 10071 and 10164 alike). Versions are what people and clients talk about;
// sequences are what the server checks. The two are different numbers, kept
// apart in separate types.
//
// # Reading
//
// Read and the typed Repository load an aggregate starting after the latest
// snapshot when there is one. The read path follows what is to be read: one
// batched direct get of ShortRead events (sent along with the snapshot's
// get) serves short tails without a consumer; when the server counts at
// least LongRead events left after it, the rest streams through an
// ephemeral push consumer (no acknowledgements, flow controlled), several
// times faster per event; shorter rests are read with further direct gets.
// Events are folded as they arrive. A read that does not end with the
// server's word that nothing is left fails with ErrUnavailable. LoadAt
// loads the state at a version or at a point in time.
//
// # Personal data
//
// An Event may name fields of its payload that hold personal data
// (Event.Personal, filled by the writer from codec.WithPersonal): Append
// stores them sealed with a key of the aggregate, kept in the key bucket
// (default SUBJECT_KEYS, with the store's replicas; see package shred for
// the wire format), and every read (Read, Repository.Load, Unseal for
// consumers) opens them. Forget deletes the aggregate's snapshot and key:
// from then on its sealed fields read as null, i.e. the zero value of their
// Go type, and Recorded.Forgotten names them. An appended event with
// Event.Forgets set forgets its aggregate once it is stored; when that
// deletion fails, the next Load that meets the event completes it
// (Model.Forgets). The stream itself is never changed.
//
// # Errors
//
// Callers branch with errors.Is on ErrConflict, ErrUnavailable, ErrInvalidRef,
// ErrBatchTooLarge, ErrDuplicate, ErrLayoutChanged and ErrUnroutedType, and get details with errors.As on
// *ConflictError and *InvalidRefError.
package streams
