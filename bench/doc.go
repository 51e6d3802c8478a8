// Package bench runs the scenarios of the Event Store Benchmark Suite
// (github.com/pyeventsourcing/eventstore-benchmarks, configs/scenarios)
// against jetsource through its NATS API only: commands on cmd.<type>.<command>
// and queries on query.<model>.<name>, with the contract's JSON
// (docs/contract.md). cmd/bench is its command line.
//
// # The bench domain
//
// The suite appends opaque events to named streams and reads a stream's
// first events back. Domain is that, as a jetsource domain: the aggregate
// bench (a stream) with the commands start (create it with count events)
// and append, each event {"payload":"…"} of the size the scenario asks for;
// the projection bench_streams keeps each stream as a Redis list in
// version order; the query bench.stream {id, from, limit} reads it. A
// deployment to benchmark runs Domain beside its own domains
// (service.New(mine..., bench.Domain())); StartStandalone runs it in the
// process, as the single-process mode does.
//
// # Scenarios, runs and reports
//
// MicroservicesAggregate and CQRSReadModel are the suite's scenarios with
// its sizes; Run runs one (setup, workers until its duration or
// Options.MaxOps, progress line) and returns a Report: operations,
// throughput, latency percentiles of writes and of reads, errors by code,
// and the Consistency of every acknowledged write. The README's "Benchmark"
// section and bench -h list where the runs deviate from the suite.
//
// # The consistency check
//
// Check reads every acknowledged event back twice: from the event stream,
// at the sequence the command's reply gave (its subject, Es-Version and
// body must be the acknowledged ones), and through query.bench.stream once
// the projection has reached it. It fails on any acknowledgement whose
// event is not there.
package bench
