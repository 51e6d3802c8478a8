// Package process runs process managers: code that reacts to events and
// sends commands, durably and exactly once in effect.
//
// # The model
//
// A Process declares the event subjects it follows and React, called for each
// of their events in stream order. React sends commands through Commands:
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
// jetsource_[<deployment>_]pm_<process>, with explicit acknowledgements and at
// most one message pending: an event is acknowledged only after React
// returned nil for it, and the next one is delivered only after that. Unlike
// the projections' AckAll consumers, no acknowledgement covers an event that
// was not handed to React, so a stray pull cannot open a hole: an event that
// was delivered elsewhere and not acknowledged comes back after AckWait. A
// React that fails is retried with the same event (Nak with a delay) until it
// succeeds; events are never skipped.
//
// # Single active instance
//
// Several instances of a manager may run; one is active. The consumers use a
// priority group with the pinned-client policy (nats-server 2.11+): the server
// hands messages only to the pinned client and pins another one when the
// pinned one stops pulling for PinnedTTL (a crash, a partition). This is the
// server's own failover, with no lease to renew in Redis and no clock to
// trust. An overlap (the old client still finishing a step while the new one
// starts) is safe because every command is idempotent by its command_id.
//
// # Timeouts
//
// Commands.Schedule publishes a JetStream message schedule (ADR-51, "@at",
// nats-server 2.12+) in a stream of its own, TIMERS (subjects timers.>,
// AllowMsgSchedules), never in EVENTS (docs/contract.md §1): the schedule
// timers.<process>.at.<type>.<id> fires once, at its time, a message on
// timers.<process>.fired.<type>.<id>, which a second durable consumer
// (jetsource_[<deployment>_]pm_<process>_timers, same pinned group) hands to
// Fired. A schedule is a subject, so scheduling again replaces it; a timer
// that fires twice (scheduled again on a replay after it fired) calls Fired
// twice, whose commands are idempotent like any other. The server removes
// a schedule when it fires, and the manager deletes a fired message once its
// handling is acknowledged: TIMERS holds only the timers still to come.
package process
