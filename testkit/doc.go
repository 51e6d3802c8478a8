// Package testkit is jetsource's public test kit: what the platform's own
// tests run on, for the tests of a module that builds on the platform too.
//
// # Aggregates: given, when, then
//
// Aggregate tests a domain's decisions without any server: given the events
// of an aggregate's history, when a command arrives with its JSON data, then
// these events follow, or this error. It runs the aggregate.Definition's own
// Evolve and Decide, so what passes here is what the writer decides:
//
//	acc := testkit.Aggregate(t, account.Definition())
//	acc.Given(account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30}).
//		When("withdraw", `{"amount":10}`).
//		Then(account.MoneyWithdrawn{Amount: 10})
//	acc.Given(account.AccountOpened{Owner: "ada"}).
//		When("withdraw", `{"amount":50}`).
//		ThenError(aggregate.ErrRejected).
//		ThenErrorContains("insufficient funds")
//
// A failed check names the history, the command and the expected and actual
// events in order. RunAggregateCases runs a table of such cases as subtests.
//
// # Real servers
//
// It starts real servers, never mocks: StartNATS runs an embedded
// nats-server with JetStream on a random loopback port with its file store
// in t.TempDir(), StartCluster routes several of them into a cluster, and
// StartRedis runs a private redis-server on a random port (or, without
// redis-server on PATH, uses and flushes the database REDIS_URL names).
// StartRedisCluster runs a private three-master Redis Cluster
// (redis-server --cluster-enabled, created with redis-cli --cluster
// create), with FlushMaster and a master's Kill/Restart for fault tests and
// a CrossSlot recorder that catches any command whose keys span slots;
// StartValkeyCluster does the same with Valkey, skipping where it is not
// installed. Each is stopped by t.Cleanup. NATS.Restart and
// Redis.Kill/Restart play a crash and a reboot, so recovery can be tested
// against the real thing.
// Eventually waits on a condition with a deadline instead of a sleep;
// SyncBuffer collects a logger's output while a test reads it; Load and
// Percentile drive and measure benchmarks.
//
// A test in a user's own module starts what it needs and hands the
// connections to the platform's packages:
//
//	func TestCounterIncrements(t *testing.T) {
//		n := testkit.StartNATS(t)
//		rdb := testkit.StartRedis(t).Client(t)
//		nc := n.Connect()
//		store, err := streams.Open(context.Background(), nc)
//		if err != nil {
//			t.Fatal(err)
//		}
//		// run the writer and projector with store and rdb, send a command
//		// over nc, then wait until the query answers what it did:
//		testkit.Eventually(t, 10*time.Second, func() bool {
//			return countOf(t, nc, "c-1") == 1 // a query over nc
//		}, "counter c-1 never counted")
//	}
//
// Given/when/then fixtures test a domain without writing any of that:
// Aggregate(t, def).Given(events…).When(command, data).Then(events…) checks
// decisions (pure, no servers), and Projection(t, p, events).Given(type, id,
// events…).Then(query, params, answer) appends the events to a real event
// store, runs the projection into a real Redis and checks what a registered
// query answers.
//
// The servers need nothing but the redis-server binary on PATH (apt-get
// install redis-server, which brings the redis-cli a cluster is created
// with); nats-server is linked in.
package testkit
