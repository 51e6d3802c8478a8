// Package live serves live queries: a client subscribes to one instance of
// any registered reader.Query (its model, name and parameters) and receives
// the current answer, then every new answer as the projections apply
// events, in order, each with its sequence (the projection checkpoint the
// answer reflects).
//
// The model: the projection runner publishes one Notice per committed batch
// (Notify, given to projections.WithCommitted) naming the projection, its
// checkpoint and the aggregates the batch changed. A Server keeps the
// instances clients subscribed to; on a notice it recomputes only the
// instances whose answer may depend on it (a query with an ID parameter:
// the aggregates with that id; any other: every change of its projection)
// and appends an answer to the instance's subject in the LIVE JetStream
// stream (memory storage, bounded by age and answers per subject) only when
// the answer changed. Appends carry Nats-Expected-Last-Subject-Sequence, so
// that several servers recomputing one instance append each answer once and
// in order; each answer names the sequence of the answer before it
// (previous), which lets a client resume from its last sequence exactly or
// know that the history no longer reaches back (a reset). A periodic check
// reads each projection's checkpoint and recomputes the instances it moved
// past, so a lost notice delays an update but never loses it.
//
// Cost is per instance, not per subscriber: every subscriber of an instance
// reads the same answers from the stream with its own ordered consumer; the
// projector never waits on a subscriber, and a subscriber that does not keep
// up is cut off (ErrSlowSubscriber) with a clear message.
//
// Subscribe is the Go client; Handler serves the subscriptions as
// Server-Sent Events for the gateway (GET /v1/live/{model}/{name}).
// docs/contract.md describes the subjects and JSON for clients in any
// language.
package live
