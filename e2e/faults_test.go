package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	accountdomain "github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

var faultsFull = flag.Bool("faults.full", false,
	"TestFaultInjectionOnACluster: longer load around each fault, and every fault injected several times (env JETSOURCE_FAULTS_FULL=1)")

// Shape of the fault-injection run.
const (
	clusterSize   = 3
	faultAccounts = 30
	// serverPause is how long a SIGSTOPped server stays stopped.
	serverPause = 6 * time.Second
	// leaseOverrun is how long past its lease a projector stays stopped.
	leaseOverrun = 2 * time.Second
	// healTimeout bounds the wait, after a fault, for every stream and the
	// projection's consumer to have a leader and current replicas.
	healTimeout = 60 * time.Second
	// checkTimeout bounds the retries of unsettled commands and the checks
	// after one fault.
	checkTimeout = 40 * time.Second
	// lookupTimeout bounds finding the target of a fault (a leader, the
	// active projector).
	lookupTimeout = 10 * time.Second
	// probeTimeout bounds one look at the cluster's state (stream info),
	// and probeEvery spaces them while waiting for it to heal.
	probeTimeout = 2 * time.Second
	probeEvery   = 100 * time.Millisecond
	// commandsStream and uniqueStream hold the writer's buckets.
	commandsStream = "KV_" + writer.CommandsBucket
	uniqueStream   = "KV_" + writer.UniqueBucket
)

// faultShape is how long the parts of one fault's phase last.
type faultShape struct {
	before time.Duration // load before the fault
	down   time.Duration // how long a killed server or Redis stays down
	after  time.Duration // load after the fault ended (restart, SIGCONT)
	rounds int           // how many times each fault is injected
}

// The short run is part of the suite (a few seconds of load per fault);
// the full one takes -faults.full or JETSOURCE_FAULTS_FULL=1.
var (
	shortFaults = faultShape{before: time.Second, down: 2 * time.Second, after: 2 * time.Second, rounds: 1}
	fullFaults  = faultShape{before: 5 * time.Second, down: 5 * time.Second, after: 10 * time.Second, rounds: 3}
)

func faultShapeOf() faultShape {
	if *faultsFull || os.Getenv("JETSOURCE_FAULTS_FULL") == "1" {
		return fullFaults
	}
	return shortFaults
}

// rig is the platform under faults: the cluster, Redis and the services.
type rig struct {
	cluster *natsCluster
	redis   *testkit.Redis
	rdb     *redis.Client
	nc      *nats.Conn
	js      jetstream.JetStream
	fleet   *fleet
	shape   faultShape
	// accountsSubject is the filter of the accounts projection's consumer.
	accountsSubject string
}

// fault is one fault: inject does it and undoes it (restart, SIGCONT) and
// says what it hit.
type fault struct {
	name   string
	inject func(ctx context.Context, r *rig) (string, error)
}

var baseline = fault{"no fault (baseline)", func(context.Context, *rig) (string, error) { return "nothing", nil }}

var faults = []fault{
	{"SIGKILL of the EVENTS leader, restart", func(ctx context.Context, r *rig) (string, error) {
		return r.killLeaderOf(ctx, streams.DefaultStream)
	}},
	{"SIGKILL of the COMMANDS/UNIQUE leader, restart", func(ctx context.Context, r *rig) (string, error) {
		return r.killLeaderOf(ctx, commandsStream)
	}},
	{"SIGKILL of the projection consumer's leader, restart", func(ctx context.Context, r *rig) (string, error) {
		info, err := consumerFiltering(ctx, r.js, streams.DefaultStream, r.accountsSubject)
		if err != nil {
			return "", err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return "", fmt.Errorf("consumer %s has no leader", info.Name)
		}
		return r.killAndRestart(ctx, info.Cluster.Leader)
	}},
	{"SIGKILL of the writers' node, restart", func(ctx context.Context, r *rig) (string, error) {
		clients, err := r.cluster.clientsOf(ctx)
		if err != nil {
			return "", err
		}
		node, most := "", 0
		for name, conns := range clients {
			writers := 0
			for _, c := range conns {
				if strings.Contains(c, "writer") { // the writer names its connection jetsource-writer
					writers++
				}
			}
			if writers > most {
				node, most = name, writers
			}
		}
		if node == "" {
			return "", fmt.Errorf("no node has a writer connected: %v", clients)
		}
		did, err := r.killAndRestart(ctx, node)
		return fmt.Sprintf("%s, %d writer(s) connected", did, most), err
	}},
	{"SIGSTOP of the EVENTS leader for 6s", func(ctx context.Context, r *rig) (string, error) {
		node, err := streamLeader(ctx, r.js, streams.DefaultStream)
		if err != nil {
			return "", err
		}
		roles := r.roles(ctx, node)
		if err := r.cluster.signal(node, syscall.SIGSTOP); err != nil {
			return "", err
		}
		hold(ctx, serverPause)
		return fmt.Sprintf("%s (%s) stopped %v", node, roles, serverPause), r.cluster.signal(node, syscall.SIGCONT)
	}},
	{"SIGKILL of Redis, restart empty", func(ctx context.Context, r *rig) (string, error) {
		if err := r.redis.Kill(); err != nil {
			return "", err
		}
		hold(ctx, r.shape.down)
		return fmt.Sprintf("redis %s down %v", r.redis.Addr, r.shape.down), r.redis.Restart()
	}},
	{"SIGSTOP of the active projector past its lease", func(ctx context.Context, r *rig) (string, error) {
		lookup, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		slot, err := r.activeProjector(lookup, accountdomain.ProjectionName)
		if err != nil {
			return "", err
		}
		// The projector has no lease setting yet: it runs with the default.
		d := projections.DefaultLeaseTTL + leaseOverrun
		if err := r.fleet.pause(ctx, slot, d); err != nil {
			return "", err
		}
		did := fmt.Sprintf("%s (held the %s lease) stopped %v", slot, accountdomain.ProjectionName, d)
		lookup, cancel = context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		holder, err := r.activeProjector(lookup, accountdomain.ProjectionName)
		if err != nil {
			return did, fmt.Errorf("after the pause: %w", err)
		}
		return did + ", then " + holder + " held it", nil
	}},
}

// hold waits d, less if ctx ends: how long a fault or the load lasts.
func hold(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

func (r *rig) killLeaderOf(ctx context.Context, stream string) (string, error) {
	node, err := streamLeader(ctx, r.js, stream)
	if err != nil {
		return "", err
	}
	return r.killAndRestart(ctx, node)
}

// killAndRestart SIGKILLs node, keeps it down for the shape's down time and
// starts it again.
func (r *rig) killAndRestart(ctx context.Context, node string) (string, error) {
	roles := r.roles(ctx, node)
	if err := r.cluster.kill(node); err != nil {
		return "", err
	}
	hold(ctx, r.shape.down)
	return fmt.Sprintf("%s (%s) down %v", node, roles, r.shape.down), r.cluster.restart(node)
}

// roles lists what node leads, for the table: EVENTS, the buckets, the
// accounts projection's consumer.
func (r *rig) roles(ctx context.Context, node string) string {
	var led []string
	for _, s := range []string{streams.DefaultStream, commandsStream, uniqueStream} {
		if leader, err := streamLeader(ctx, r.js, s); err == nil && leader == node {
			led = append(led, s)
		}
	}
	if info, err := consumerFiltering(ctx, r.js, streams.DefaultStream, r.accountsSubject); err == nil && info.Cluster != nil && info.Cluster.Leader == node {
		led = append(led, info.Name)
	}
	if len(led) == 0 {
		return "leads nothing watched"
	}
	return "leads " + strings.Join(led, ", ")
}

// activeProjector names the fleet slot of the projector that holds the
// lease of projection: it watches Redis (MONITOR) for the renewal of the
// lease and looks up the client name of the connection that sent it (each
// projector's REDIS_URL names it after its slot).
func (r *rig) activeProjector(ctx context.Context, projection string) (string, error) {
	lease := projections.KeysOf(projection).Lease()
	holder, err := r.rdb.Get(ctx, lease).Result()
	if err != nil {
		return "", fmt.Errorf("the lease %s: %w", lease, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.redis.Addr)
	if err != nil {
		return "", fmt.Errorf("monitor redis: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		return "", fmt.Errorf("monitor redis: %w", err)
	}
	// A line: +1700000000.123456 [0 127.0.0.1:51234] "evalsha" "…" "2" "<lease key>" "<gen key>" "<holder>" …
	// A projector that lost the lease still runs the renewal, with its own
	// id: only the holder's counts.
	var addr string
	for sc := bufio.NewScanner(conn); addr == "" && sc.Scan(); {
		line := sc.Text()
		open, end := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
		if open < 0 || end < open || !strings.Contains(line, `"`+lease+`"`) || !strings.Contains(line, `"`+holder+`"`) {
			continue
		}
		client := strings.Fields(line[open+1 : end])
		cmd := strings.ToLower(strings.TrimSpace(line[end+1:]))
		if len(client) == 2 && client[1] != "lua" && (strings.HasPrefix(cmd, `"evalsha"`) || strings.HasPrefix(cmd, `"eval"`)) {
			addr = client[1]
		}
	}
	if addr == "" {
		return "", fmt.Errorf("no projector renewed the lease %s held by %s within %v", lease, holder, lookupTimeout)
	}
	clients, err := r.rdb.ClientList(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("redis CLIENT LIST: %w", err)
	}
	for _, line := range strings.Split(clients, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		if fields["addr"] == addr {
			return fields["name"], nil
		}
	}
	return "", fmt.Errorf("the lease %s was renewed from %s, which CLIENT LIST does not show", lease, addr)
}

// TestFaultInjectionOnACluster runs two writers, two projectors and a
// reader against a 3-node nats-server cluster (EVENTS and the buckets
// asked for with 3 replicas) and a redis-server, and injects one fault
// after another under client load with command_ids: SIGKILL of the EVENTS
// leader, of the COMMANDS bucket's leader, of the projection consumer's
// leader; SIGSTOP of a server for 6 s; Redis killed and restarted empty;
// the active projector stopped past its lease. After each it checks that
// no acknowledged command is lost or stored twice, resends get the first
// reply, no 404 or 422 contradicts the stream, and the read models equal
// the fold of the stream; then it prints a table of the run.
func TestFaultInjectionOnACluster(t *testing.T) {
	shape := faultShapeOf()
	bin := binaries(t)
	cl := startCluster(t, bin, clusterSize)
	rd := testkit.StartRedis(t)
	nc, js, err := connectJS(cl.urls(), "fault injection client")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	p := &platform{t: t, bin: bin, nc: nc, env: []string{"NATS_URL=" + cl.urls(), "REDIS_URL=" + rd.URL,
		fmt.Sprintf("JETSOURCE_STORE_REPLICAS=%d", clusterSize), "JETSOURCE_LOG_LEVEL=info"}}
	r := &rig{cluster: cl, redis: rd, rdb: rd.Client(t), nc: nc, js: js, fleet: newFleet(t, p), shape: shape,
		accountsSubject: accountdomain.Projection().Subjects[0]}
	// Each service names its Redis connections after its slot, so that
	// CLIENT LIST tells which projector holds a lease.
	r.fleet.slotEnv = func(slot string) []string { return []string{"REDIS_URL=" + rd.URL + "?client_name=" + slot} }
	for _, slot := range []string{"writer-1", "writer-2"} {
		require.NoError(t, r.fleet.launch(slot))
	}
	testkit.Eventually(t, upTimeout, func() bool {
		_, err := nc.Request("cmd.account.open", []byte(`{}`), probeTimeout)
		return err == nil
	}, "a writer answers")
	for _, slot := range []string{"projector-1", "projector-2", "reader-1"} {
		require.NoError(t, r.fleet.launch(slot))
	}

	w := &workload{nc: nc, lastSequence: func() (uint64, error) { return lastSequence(js) }}
	accounts := w.openAccounts(t, faultAccounts, time.Now().Add(checkTimeout))
	require.NotEmpty(t, accounts, "no account could be opened")
	require.NoError(t, r.heal(), "the cluster before the first fault")

	seen := map[string]bool{}
	lost, twice := map[string]bool{}, map[string]bool{}
	// The baseline (the opening of the accounts, then load without a
	// fault) tells what breaks without any fault.
	plan := []fault{baseline}
	for range shape.rounds {
		plan = append(plan, faults...)
	}
	var rows []*faultRow
	for n, fl := range plan {
		row := &faultRow{fault: fl.name}
		rows = append(rows, row)
		t.Run(fmt.Sprintf("%d %s", n, fl.name), func(t *testing.T) {
			r.phase(t, n, fl, w, accounts, row, seen, lost, twice)
		})
	}
	t.Logf("fault injection, %d accounts, %d clients, load %v before and %v after each fault, stream and buckets asked for with %d replicas:\n%s",
		len(accounts), chaosClients, shape.before, shape.after, clusterSize, faultTable(rows))
}

// lastSequence reads the event stream's last sequence.
func lastSequence(js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	s, err := js.Stream(ctx, streams.DefaultStream)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.LastSeq, nil
}

// heal waits until every stream and the accounts projection's consumer
// have a leader and current replicas.
func (r *rig) heal() error {
	deadline := time.Now().Add(healTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := healthy(ctx, r.js, r.accountsSubject, streams.DefaultStream, commandsStream, uniqueStream)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healed after %v: %w", healTimeout, err)
		}
		time.Sleep(probeEvery)
	}
}

// faultRow is one fault's line of the table.
type faultRow struct {
	fault, target    string
	acked            int
	errors           string
	noService        time.Duration
	lost, duplicated int
	broken           []*promise // the promises the fault broke, with its new violations
}

// phase runs load around one fault, settles, checks every promise and
// fills the fault's line of the table as it goes. n numbers the phase (it
// keeps command ids apart); seen, lost and twice carry what earlier phases
// reported, so that each violation is reported once, by the fault after
// which it showed.
func (r *rig) phase(t *testing.T, n int, fl fault, w *workload, accounts []string, row *faultRow, seen, lost, twice map[string]bool) {
	w.mu.Lock()
	from := len(w.commands)
	w.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	var load sync.WaitGroup
	for c := range chaosClients {
		load.Go(func() { w.moveMoney(ctx, n*chaosClients+c, accounts) })
	}
	hold(ctx, r.shape.before)
	injected := time.Now()
	target, err := fl.inject(ctx, r)
	row.target = target
	if err != nil {
		t.Errorf("%s: %v", fl.name, err)
	}
	hold(ctx, r.shape.after)
	stop()
	load.Wait()
	ended := time.Now()

	w.mu.Lock()
	cmds := w.commands[from:]
	w.mu.Unlock()
	row.noService, row.errors = longestGap(cmds, injected, ended), errorsByCode(cmds)
	for _, c := range cmds {
		if _, ok := c.acked(); ok {
			row.acked++
		}
	}

	v := &verdicts{}
	healed := v.promise("the cluster heals: every stream and the projection's consumer get a leader and current replicas")
	if err := r.heal(); err != nil {
		healed.violated("cluster", "after %s: %v", fl.name, err)
	}
	deadline := time.Now().Add(checkTimeout)
	w.settleAll(cmds, deadline)
	checked := verify(t, r.nc, w, accounts, r.fleet, deadline)
	v.all = append(v.all, checked.all...)
	checkRefusals(cmds, checked.stream, v.promise("no 404 or 422 that the stream contradicts"))
	r.checkReplicas(v.promise(fmt.Sprintf("every stream and bucket has the %d replicas asked for (JETSOURCE_STORE_REPLICAS)", clusterSize)))
	nodes := v.promise("no nats-server node dies on its own")
	for _, dead := range r.cluster.diedOnTheirOwn() {
		nodes.violated("node", "%s", dead)
	}
	fresh := v.unseen(seen)
	fresh.report(t)

	stored := storedTimes(checked.stream)
	for _, c := range w.commands {
		_, acked := c.acked()
		if acked && stored[c.commandID] == 0 && !lost[c.commandID] {
			lost[c.commandID] = true
			row.lost++
		}
		if stored[c.commandID] > 1 && !twice[c.commandID] {
			twice[c.commandID] = true
			row.duplicated++
		}
	}
	for _, p := range fresh.all {
		if len(p.violations) > 0 {
			row.broken = append(row.broken, p)
		}
	}
}

// checkReplicas flags each stream (buckets included) with fewer replicas
// than the services were asked for.
func (r *rig) checkReplicas(p *promise) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	lister := r.js.ListStreams(ctx)
	for info := range lister.Info() {
		if info.Config.Replicas != clusterSize {
			p.violated("stream "+info.Config.Name, "stream %s has %d replica(s), want %d: losing the node that holds it stops every command that needs it and loses what it keeps",
				info.Config.Name, info.Config.Replicas, clusterSize)
		}
	}
	if err := lister.Err(); err != nil {
		p.violated("listing", "list the streams: %v", err)
	}
}

// unseen returns the violations not in seen, and adds them to it.
func (v *verdicts) unseen(seen map[string]bool) *verdicts {
	fresh := &verdicts{stream: v.stream}
	for _, p := range v.all {
		q := fresh.promise(p.promise)
		for _, x := range p.violations {
			if !seen[x.text] {
				seen[x.text] = true
				q.violations = append(q.violations, x)
			}
		}
	}
	return fresh
}

// settleAll sends each unsettled command again, as a client would, until
// it is settled or the deadline passes.
func (w *workload) settleAll(cmds []*sentCommand, deadline time.Time) {
	todo := make(chan *sentCommand)
	var wg sync.WaitGroup
	for range chaosClients {
		wg.Go(func() {
			for c := range todo {
				w.settle(c, deadline)
			}
		})
	}
	for _, c := range cmds {
		if !c.settled() {
			todo <- c
		}
	}
	close(todo)
	wg.Wait()
}

// storedTimes counts the events of each command id.
func storedTimes(events []storedEvent) map[string]int {
	n := map[string]int{}
	for _, e := range events {
		n[e.commandID]++
	}
	return n
}

// longestGap is the longest time between from, the successful replies
// that came between from and to, and to: how long clients went without a
// command served.
func longestGap(cmds []*sentCommand, from, to time.Time) time.Duration {
	var times []time.Time
	for _, c := range cmds {
		for _, a := range c.answers {
			if a.status == statusOK && a.at.After(from) && a.at.Before(to) {
				times = append(times, a.at)
			}
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	longest, prev := time.Duration(0), from
	for _, at := range append(times, to) {
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	return longest
}

// errorsByCode counts the answers other than success, by status.
func errorsByCode(cmds []*sentCommand) string {
	counts := map[string]int{}
	for _, c := range cmds {
		for _, a := range c.answers {
			if a.status != "" && a.status != statusOK {
				counts[a.status]++
			}
		}
	}
	var parts []string
	for s, n := range counts {
		parts = append(parts, fmt.Sprintf("%s:%d", s, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// checkRefusals flags each refusal that the stream contradicts: a 404 for
// an account whose AccountOpened was acknowledged before the command was
// first sent; a 422 of a deposit or withdrawal while, from the command's
// first send to the refusal, the account was never frozen and its balance
// always covered the withdrawal. Each attempt's floor and ceiling bound
// the states the writer can have seen.
func checkRefusals(cmds []*sentCommand, events []storedEvent, p *promise) {
	type state struct {
		seq     uint64
		balance int64
		frozen  bool
	}
	history := map[string][]state{} // account id -> states after each of its events
	opened := map[string]uint64{}   // account id -> sequence of AccountOpened
	for _, e := range events {
		typ, id := e.aggregate()
		if typ != "account" {
			continue
		}
		var data struct {
			Amount int64 `json:"amount"`
		}
		_ = json.Unmarshal(e.data, &data)
		var s state
		if h := history[id]; len(h) > 0 {
			s = h[len(h)-1]
		}
		s.seq = e.seq
		switch e.typ {
		case "AccountOpened":
			opened[id] = e.seq
		case "MoneyDeposited":
			s.balance += data.Amount
		case "MoneyWithdrawn":
			s.balance -= data.Amount
		case "AccountFrozen":
			s.frozen = true
		case "AccountUnfrozen":
			s.frozen = false
		}
		history[id] = append(history[id], s)
	}
	last := uint64(0)
	if len(events) > 0 {
		last = events[len(events)-1].seq
	}
	for _, c := range cmds {
		if c.subject != "cmd.account.deposit" && c.subject != "cmd.account.withdraw" {
			continue
		}
		floor := ^uint64(0)
		for _, a := range c.answers {
			if a.status != "" {
				floor = min(floor, a.floor)
			}
		}
		var req struct {
			Data struct {
				Amount int64 `json:"amount"`
			} `json:"data"`
		}
		_ = json.Unmarshal(c.body, &req)
		for _, a := range c.answers {
			switch a.status {
			case "404":
				if at, ok := opened[c.aggregateID]; ok && at <= floor {
					p.violated(c.subject+": 404 for an open account", "%s: %s; want success or 503: AccountOpened of %s is at sequence %d, and sequence %d was acknowledged before the command was first sent",
						c, a, c.aggregateID, at, floor)
				}
			case "422":
				ceiling := a.ceiling
				if ceiling == 0 {
					ceiling = last
				}
				// The states the writer can have decided on: the one at the
				// floor, and every later one up to the ceiling.
				var seen []state
				for _, s := range history[c.aggregateID] {
					if s.seq <= floor {
						seen = []state{s}
					} else if s.seq <= ceiling {
						seen = append(seen, s)
					}
				}
				at, ok := opened[c.aggregateID]
				if !ok || at > floor {
					continue // it may not have existed yet
				}
				low, frozen := seen[0].balance, false
				for _, s := range seen {
					low, frozen = min(low, s.balance), frozen || s.frozen
				}
				need := int64(0)
				if c.subject == "cmd.account.withdraw" {
					need = req.Data.Amount
				}
				if !frozen && low >= need {
					p.violated(c.subject+": 422 the stream contradicts", "%s (amount %d): %s; want success: from sequence %d (acknowledged before the first send) to %d (the stream's end after the refusal) the account was never frozen and its balance never below %d",
						c, req.Data.Amount, a, floor, ceiling, low)
				}
			}
		}
	}
}

// faultTable formats the rows as the issue asks: fault, commands acked,
// errors by code, seconds without service, lost, duplicated, and the
// promises each fault broke (numbered, with a legend below).
func faultTable(rows []*faultRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\ttarget\tacked in load\terrors by code\tno service (s)\tlost\tduplicated\tpromises broken (violations)")
	number := map[string]int{}
	var legend []string
	for _, r := range rows {
		var broken []string
		for _, p := range r.broken {
			if number[p.promise] == 0 {
				legend = append(legend, p.promise)
				number[p.promise] = len(legend)
			}
			broken = append(broken, fmt.Sprintf("P%d (%d)", number[p.promise], len(p.violations)))
		}
		if len(broken) == 0 {
			broken = []string{"none"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f\t%d\t%d\t%s\n", r.fault, r.target, r.acked, r.errors, r.noService.Seconds(), r.lost, r.duplicated, strings.Join(broken, " "))
	}
	tw.Flush()
	for i, p := range legend {
		fmt.Fprintf(&b, "P%d: %s\n", i+1, p)
	}
	return b.String()
}

// TestRefusalCheckFlagsOnlyRefusalsTheStreamContradicts checks the checker
// of the fault run on a stream written by hand: acc-1 opened at 1, 100
// deposited at 2, 80 withdrawn at 5.
func TestRefusalCheckFlagsOnlyRefusalsTheStreamContradicts(t *testing.T) {
	events := []storedEvent{
		{seq: 1, subject: "events.account.acc-1", typ: "AccountOpened", data: []byte(`{"owner":"ada"}`)},
		{seq: 2, subject: "events.account.acc-1", typ: "MoneyDeposited", data: []byte(`{"amount":100}`)},
		{seq: 3, subject: "events.order.o-1", typ: "OrderPlaced", data: []byte(`{}`)},
		{seq: 5, subject: "events.account.acc-1", typ: "MoneyWithdrawn", data: []byte(`{"amount":80}`)},
	}
	refused := func(subject string, amount int64, status string, floor, ceiling uint64) *sentCommand {
		return &sentCommand{subject: subject, commandID: "c", aggregateID: "acc-1",
			body:    fmt.Appendf(nil, `{"aggregate_id":"acc-1","command_id":"c","data":{"amount":%d}}`, amount),
			answers: []answer{{attempt: attemptFirst, status: status, floor: floor, ceiling: ceiling}}}
	}
	for _, tc := range []struct {
		name    string
		command *sentCommand
		flagged bool
	}{
		{"404 after the open was acknowledged", refused("cmd.account.deposit", 5, "404", 1, 0), true},
		{"404 before anything was acknowledged", refused("cmd.account.deposit", 5, "404", 0, 0), false},
		{"422 while the balance covered the withdrawal", refused("cmd.account.withdraw", 50, "422", 2, 4), true},
		{"422 when a withdrawal may have come first", refused("cmd.account.withdraw", 50, "422", 2, 5), false},
		{"422 of a withdrawal larger than the balance", refused("cmd.account.withdraw", 150, "422", 2, 4), false},
		{"422 of a deposit on an account never frozen", refused("cmd.account.deposit", 5, "422", 2, 0), true},
		{"422 before the account was opened", refused("cmd.account.withdraw", 50, "422", 0, 4), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &promise{}
			checkRefusals([]*sentCommand{tc.command}, events, p)
			if got := len(p.violations) > 0; got != tc.flagged {
				t.Errorf("flagged = %v, want %v; violations: %v", got, tc.flagged, p.violations)
			}
		})
	}
}
