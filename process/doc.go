// Package process runs process managers: code that reacts to events and
// sends commands, durably and exactly once in effect.
//
// # The model
//
// A Process declares the event subjects it follows and React, called for each
// of their events: for the events of one process instance (the aggregate of
// the event) one at a time and in stream order, for those of different
// instances concurrently (see Concurrency). React sends commands through
// Commands:
//
//   - Each command's command_id is derived from the process instance (the
//     aggregate of the event, ref) and a step name the process gives
//     (CommandID(process, type, id, step)), never drawn at random. After a
//     crash the events since the last acknowledgement are handed to React
//     again and it sends the same commands again: the writer's idempotency
//     (docs/contract.md §6) answers a resend with the first attempt's reply,
//     byte for byte, and appends nothing. So a step runs once, and a process
//     may decide on what the first attempt answered.
//   - Every command carries the request headers Es-Correlation-Id (the
//     event's correlation id, or the id of its aggregate when it has none) and
//     Es-Causation-Id (the event's id), so the events it appends carry them.
//   - The process's own state is an event-sourced aggregate: React loads it
//     and sends it commands like any other (the sample domain/transfer does).
//
// # Checkpoint and no gaps
//
// The checkpoint is a durable JetStream consumer of the event stream,
// jetsource_[<deployment>_]pm_<process>, with explicit acknowledgements and
// at most Options.MaxAckPending events pending (default 256). On a layout of
// several event streams (streams.Layout) the manager follows its subjects
// wherever they lie: the same consumer, by name and settings, on each stream
// that holds some of them (streams.Layout.SubjectsByStream), filtered to
// those; the events of every stream share the workers, and since an
// aggregate's events all lie in one stream, each instance keeps stream
// order. A subject of a type in no stream is refused by New. An event is
// acknowledged only after React returned nil for it, and the next event of
// its instance is handed to React only after the server confirmed that
// acknowledgement. Unlike the projections' AckAll consumers, no
// acknowledgement covers an event that was not handed to React, so a stray
// pull cannot open a hole: an event that was delivered elsewhere and not
// acknowledged comes back after AckWait. A React that fails is retried with
// the same event (after Options.Retry) until it succeeds, before any later
// event of its instance; events are never skipped.
//
// # Concurrency
//
// The active instance holds up to MaxAckPending events and hands each to one
// of Options.Workers workers (default 32) chosen by a hash of its instance,
// so the events of an instance are handled by one worker, one at a time, in
// the order they came, while the other workers handle other instances. Every
// event held, being handled or waiting for its worker, is told to the server
// to be in progress every AckWait/3, so none is handed again meanwhile (an
// event handed again all the same is dropped while its first copy is held:
// an event never runs twice at once). A failing instance holds back the
// instances that share its worker, and once MaxAckPending events wait behind
// it, all of them, as one event at a time did; Workers 1 and MaxAckPending 1
// are the old one-at-a-time manager. A manager that stops hands back (Nak)
// the events it held and did not finish, so the next active instance takes
// them at once rather than after AckWait.
//
// # Order across a change of active instance
//
// While one instance stays active, the events of a process instance reach
// React in stream order. When another becomes active (the active one
// crashed, stopped, or lost its pin), the events the old one held come again
// to the new one, possibly in another order (the server does not keep
// stream order for redeliveries) and possibly after the new one handled a
// later event of the same instance. React must therefore decide from the
// process instance's state, loaded afresh, never from the event's place in
// the stream, and each step must be taken once at the aggregate that records
// it: the sample domain/transfer's React loads the transfer and takes the
// steps its state calls for, and the transfer makes each choice once (a step
// already taken is accepted again and appends nothing), so an earlier event
// handled after a later one sends commands already sent, with the same ids,
// and changes nothing.
//
// # Single active instance
//
// Several instances of a manager may run; one is active. The consumers use a
// priority group with the pinned-client policy (nats-server 2.11+): the server
// hands messages only to the pinned client and pins another one when the
// pinned one stops pulling for PinnedTTL (a crash, a partition). This is the
// server's own failover, with no lease to renew in Redis and no clock to
// trust. An overlap (the old client still finishing the events it holds
// while the new one starts) is safe because every command is idempotent by
// its command_id and React decides from the state (see above).
//
// # Timeouts
//
// Commands.Schedule publishes a JetStream message schedule (ADR-51, "@at",
// nats-server 2.12+) in a stream of its own, TIMERS (subjects timers.>,
// AllowMsgSchedules), never in EVENTS (docs/contract.md §1): the schedule
// timers.<process>.at.<type>.<id> fires once, at its time, a message on
// timers.<process>.fired.<type>.<id>, which a second durable consumer
// (jetsource_[<deployment>_]pm_<process>_timers, same pinned group) hands to
// Fired, on workers of its own beside the events' (a timer must not wait for
// the step it is to time out; the timers of one instance run one at a time).
// A schedule is a subject, so scheduling again replaces it; a timer
// that fires twice (scheduled again on a replay after it fired) calls Fired
// twice, whose commands are idempotent like any other. The server removes
// a schedule when it fires, and the manager deletes a fired message once its
// handling is acknowledged: TIMERS holds only the timers still to come.
package process
