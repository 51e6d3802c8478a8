package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"
)

var chaosLoad = flag.Duration("chaos.load", 0,
	"how long TestManyInstancesKeepEveryPromise sends load under chaos (default 20s; env JETSOURCE_CHAOS_SECONDS)")

// Shape of the concurrency test. The default run fits CI (2 cores, under
// 90 s in all); -chaos.load or JETSOURCE_CHAOS_SECONDS makes it longer.
const (
	defaultChaosLoad = 20 * time.Second
	chaosAccounts    = 100
	chaosClients     = 8
	// commandTimeout is how long a client waits for one reply: longer than
	// a pause, so a paused writer's answer usually still arrives.
	commandTimeout = 5 * time.Second
	// settleTimeout bounds the end of the run: retries of the unanswered
	// registrations, then the read model catching up with the stream.
	settleTimeout = 40 * time.Second
	// chaosEvery sets how many of each chaos action (writer pause, writer
	// kill, projector pause, projector kill) a run gets: one per chaosEvery
	// of load, at least minChaos.
	chaosEvery = 7 * time.Second
	minChaos   = 3
	strayEvery = 5 * time.Second
	// Racing registrations: one round per registrationEvery of load, at
	// least minRegistrations.
	registrationEvery = 2 * time.Second
	minRegistrations  = 6
	password          = "correct-horse-battery"
)

func chaosLoadDuration(t *testing.T) time.Duration {
	if *chaosLoad > 0 {
		return *chaosLoad
	}
	if s := os.Getenv("JETSOURCE_CHAOS_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "JETSOURCE_CHAOS_SECONDS must be a whole number of seconds")
		return time.Duration(n) * time.Second
	}
	return defaultChaosLoad
}

// Attempts of a command, as answers name them.
const (
	attemptFirst      = "first attempt"
	attemptConcurrent = "resend sent concurrently"
	attemptAfter      = "resend right after the first answer"
	attemptLater      = "resend sent later"
	attemptSettle     = "retry after the chaos"
)

// Statuses of an attempt besides the wire error statuses ("422" …).
const (
	statusOK           = "ok"
	statusTimeout      = "timeout"
	statusNoResponders = "no responders"
	statusNATSError    = "nats error"
)

// answer is what one attempt of a command got.
type answer struct {
	attempt string // which attempt: first attempt, resend sent concurrently …
	status  string // statusOK, an error status from the micro header ("422"), or a client-side status
	body    []byte
	at      time.Time // when the answer came, or the client gave up
	// floor is the highest stream sequence a success had given before the
	// attempt was sent: the stream held at least that much when it was.
	floor uint64
	// ceiling is, for a refusal (404, 409, 422), the stream's last
	// sequence read just after it came: nothing appended before the
	// refusal lies beyond it. 0 when not read.
	ceiling uint64
}

func (a answer) String() string {
	if a.body == nil {
		return a.attempt + ": " + a.status
	}
	return fmt.Sprintf("%s: %s %s", a.attempt, a.status, a.body)
}

// final reports whether the answer settles the command for a client: not a
// 503, a timeout or a missing responder (the other attempt's answer then
// stands), nor a 500 (a bug, counted on its own), nor a 409 "gave up after
// retries" on a command without expected_version (it asks to send again).
func (a answer) final(subject string) bool {
	switch a.status {
	case statusOK:
		return true
	case "503", "500", statusTimeout, statusNoResponders, statusNATSError:
		return false
	case "409":
		return subject == "cmd.account.open" || subject == "cmd.user.register"
	}
	return true
}

// sentCommand is one command (one command_id) and every attempt's answer:
// [0] the first attempt, [1] its resend, then retries after the chaos.
type sentCommand struct {
	subject, commandID, aggregateID string
	body                            []byte
	answers                         []answer
}

func (c *sentCommand) String() string {
	return fmt.Sprintf("%s command_id=%s aggregate=%s", c.subject, c.commandID, c.aggregateID)
}

func (c *sentCommand) acked() (answer, bool) {
	for _, a := range c.answers {
		if a.status == statusOK {
			return a, true
		}
	}
	return answer{}, false
}

func (c *sentCommand) settled() bool {
	for _, a := range c.answers {
		if a.final(c.subject) {
			return true
		}
	}
	return false
}

// workload is the clients' side: every command sent and what it got.
type workload struct {
	nc *nats.Conn
	// lastSequence, when set, reads the stream's last sequence for the
	// ceiling of each refusal.
	lastSequence func() (uint64, error)
	highest      atomic.Uint64 // the highest sequence a success gave

	mu       sync.Mutex
	commands []*sentCommand
}

func (w *workload) command(subject, commandID, aggregateID string, data any) *sentCommand {
	body, _ := json.Marshal(map[string]any{"aggregate_id": aggregateID, "command_id": commandID, "data": data})
	c := &sentCommand{subject: subject, commandID: commandID, aggregateID: aggregateID, body: body, answers: make([]answer, 2)}
	w.mu.Lock()
	w.commands = append(w.commands, c)
	w.mu.Unlock()
	return c
}

func (w *workload) ask(c *sentCommand, attempt string) answer {
	a := answer{attempt: attempt, floor: w.highest.Load()}
	msg, err := w.nc.Request(c.subject, c.body, commandTimeout)
	a.at = time.Now()
	switch {
	case errors.Is(err, nats.ErrTimeout):
		a.status = statusTimeout
	case errors.Is(err, nats.ErrNoResponders):
		a.status = statusNoResponders
	case err != nil:
		a.status, a.body = statusNATSError, []byte(err.Error())
	case msg.Header.Get(micro.ErrorCodeHeader) != "":
		a.status, a.body = msg.Header.Get(micro.ErrorCodeHeader), msg.Data
		if w.lastSequence != nil && (a.status == "404" || a.status == "409" || a.status == "422") {
			a.ceiling, _ = w.lastSequence()
		}
	default:
		a.status, a.body = statusOK, msg.Data
		var r struct {
			Sequence uint64 `json:"sequence"`
		}
		if json.Unmarshal(msg.Data, &r) == nil {
			raise(&w.highest, r.Sequence)
		}
	}
	return a
}

// raise sets v to to if that is higher.
func raise(v *atomic.Uint64, to uint64) {
	for seen := v.Load(); to > seen; seen = v.Load() {
		if v.CompareAndSwap(seen, to) {
			return
		}
	}
}

// sendTwice sends c and, at a random moment, its resend (same command_id,
// same body): concurrently with the first attempt, right after its answer,
// or (when it returns true) later, by the caller.
func (w *workload) sendTwice(c *sentCommand, allowLater bool) (later bool) {
	modes := 2
	if allowLater {
		modes = 3
	}
	switch rand.IntN(modes) {
	case 0:
		var wg sync.WaitGroup
		delay := rand.N(3 * time.Millisecond)
		wg.Go(func() {
			time.Sleep(delay) // a random moment while the first attempt runs
			c.answers[1] = w.ask(c, attemptConcurrent)
		})
		c.answers[0] = w.ask(c, attemptFirst)
		wg.Wait()
	case 1:
		c.answers[0] = w.ask(c, attemptFirst)
		time.Sleep(rand.N(20 * time.Millisecond)) // a random moment after the answer
		c.answers[1] = w.ask(c, attemptAfter)
	default:
		c.answers[0] = w.ask(c, attemptFirst)
		return true
	}
	return false
}

// settle sends c again (same command_id, same body) until an answer
// settles it or the deadline passes.
func (w *workload) settle(c *sentCommand, deadline time.Time) {
	for !c.settled() && time.Now().Before(deadline) {
		c.answers = append(c.answers, w.ask(c, attemptSettle))
	}
}

// openAccounts opens n accounts, each command sent twice, and returns the
// ids of those that were acknowledged.
func (w *workload) openAccounts(t *testing.T, n int, deadline time.Time) []string {
	ids := make(chan int)
	var wg sync.WaitGroup
	opens := make([]*sentCommand, n)
	for range chaosClients {
		wg.Go(func() {
			var later []*sentCommand
			for i := range ids {
				id := fmt.Sprintf("acc-%03d", i+1)
				opens[i] = w.command("cmd.account.open", "open-"+id, id, map[string]any{"owner": "owner-" + id})
				if w.sendTwice(opens[i], true) {
					later = append(later, opens[i])
				}
			}
			for _, c := range later {
				c.answers[1] = w.ask(c, attemptLater)
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	var opened []string
	for _, c := range opens {
		w.settle(c, deadline)
		if _, ok := c.acked(); ok {
			opened = append(opened, c.aggregateID)
		} else {
			t.Errorf("%s: never acknowledged, answers: %v", c, c.answers)
		}
	}
	return opened
}

// moveMoney sends deposits and withdrawals with unique command_ids over
// accounts until ctx ends, each sent twice; resends left for later are sent
// at random moments, the last ones when ctx ends.
func (w *workload) moveMoney(ctx context.Context, client int, accounts []string) {
	var later []*sentCommand
	resendLater := func(i int) {
		c := later[i]
		later[i] = later[len(later)-1]
		later = later[:len(later)-1]
		c.answers[1] = w.ask(c, attemptLater)
	}
	for n := 0; ctx.Err() == nil; n++ {
		id := accounts[rand.IntN(len(accounts))]
		var c *sentCommand
		if rand.IntN(5) < 3 {
			c = w.command("cmd.account.deposit", fmt.Sprintf("dep-%d-%d", client, n), id, map[string]any{"amount": 1 + rand.IntN(100)})
		} else {
			c = w.command("cmd.account.withdraw", fmt.Sprintf("wd-%d-%d", client, n), id, map[string]any{"amount": 1 + rand.IntN(150)})
		}
		if w.sendTwice(c, true) {
			later = append(later, c)
		}
		if len(later) > 0 && rand.IntN(4) == 0 {
			resendLater(rand.IntN(len(later)))
		}
	}
	for len(later) > 0 {
		resendLater(0)
	}
}

// raceRegistrations runs rounds of racing registrations, spread over span:
// two user ids for one username, and one user id with two usernames, all
// at once (the queue group spreads them over both writers), each sent twice.
func (w *workload) raceRegistrations(ctx context.Context, span time.Duration, rounds int) []*sentCommand {
	var all []*sentCommand
	gap := span / time.Duration(rounds+1)
	for r := range rounds {
		timer := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			timer.Stop()
			return all
		case <-timer.C:
		}
		round := []*sentCommand{
			w.command("cmd.user.register", fmt.Sprintf("reg-ua-%d-x", r), fmt.Sprintf("ua-%d-x", r), map[string]any{"username": fmt.Sprintf("shared-%d", r), "password": password}),
			w.command("cmd.user.register", fmt.Sprintf("reg-ua-%d-y", r), fmt.Sprintf("ua-%d-y", r), map[string]any{"username": fmt.Sprintf("shared-%d", r), "password": password}),
			w.command("cmd.user.register", fmt.Sprintf("reg-ub-%d-a", r), fmt.Sprintf("ub-%d", r), map[string]any{"username": fmt.Sprintf("pick-%d-a", r), "password": password}),
			w.command("cmd.user.register", fmt.Sprintf("reg-ub-%d-b", r), fmt.Sprintf("ub-%d", r), map[string]any{"username": fmt.Sprintf("pick-%d-b", r), "password": password}),
		}
		var wg sync.WaitGroup
		for _, c := range round {
			wg.Go(func() { w.sendTwice(c, false) })
		}
		wg.Wait()
		all = append(all, round...)
	}
	return all
}

// TestManyInstancesKeepEveryPromise runs two writers, two projectors and a
// reader as processes while clients send every command twice, a chaos
// pauses and kills writers and projectors, and a stray client pulls from
// the projector's consumers; then it checks the promises against the
// stream, the read models and the UNIQUE bucket.
func TestManyInstancesKeepEveryPromise(t *testing.T) {
	load := chaosLoadDuration(t)
	p := startPlatform(t)
	f := newFleet(t, p)
	f.adopt("writer-1", p.writers[0])
	f.adopt("writer-2", p.writers[1])
	f.adopt("projector-1", p.proj)
	require.NoError(t, f.launch("projector-2"))
	natsURL := p.nc.ConnectedUrl()

	w := &workload{nc: p.nc}
	began := time.Now()
	accounts := w.openAccounts(t, chaosAccounts, time.Now().Add(settleTimeout))
	opened := time.Since(began)
	require.NotEmpty(t, accounts, "no account could be opened")

	ctx, stop := context.WithTimeout(context.Background(), load)
	defer stop()
	var wg sync.WaitGroup
	for c := range chaosClients {
		wg.Go(func() { w.moveMoney(ctx, c, accounts) })
	}
	var registrations []*sentCommand
	wg.Go(func() {
		registrations = w.raceRegistrations(ctx, load, max(minRegistrations, int(load/registrationEvery)))
	})
	var strays map[string]int
	strayRounds := max(minChaos, int(load/strayEvery))
	wg.Go(func() { strays = strayPulls(ctx, t, natsURL, load, strayRounds) })
	wg.Go(func() { f.chaos(ctx, load, max(minChaos, int(load/chaosEvery))) })
	wg.Wait()

	// Settle: every process runs again (the chaos left none paused or
	// dead); unanswered registrations are sent again, as a client would.
	settling := time.Now()
	deadline := settling.Add(settleTimeout)
	for _, c := range registrations {
		w.settle(c, deadline)
	}

	ends := checkPromises(t, p.nc, w, accounts, f, deadline)
	ends.phases = fmt.Sprintf("opening %v, load %v, settling and checking %v",
		opened.Round(time.Millisecond), load, time.Since(settling).Round(time.Millisecond))
	summarize(t, w, f, strays, strayRounds, ends)
}

// summarize logs what the run did and which promises held.
func summarize(t *testing.T, w *workload, f *fleet, strays map[string]int, strayRounds int, v *verdicts) {
	byStatus := map[string]int{}
	firsts, resends, retries, acked := 0, 0, 0, 0
	for _, c := range w.commands {
		for i, a := range c.answers {
			if a.status == "" {
				continue
			}
			byStatus[a.status]++
			switch {
			case i == 0:
				firsts++
			case i == 1:
				resends++
			default:
				retries++
			}
		}
		if _, ok := c.acked(); ok {
			acked++
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "phases\t%s\n", v.phases)
	fmt.Fprintf(tw, "clients\t%d over %d accounts\n", chaosClients, chaosAccounts)
	fmt.Fprintf(tw, "commands sent (first attempts)\t%d\n", firsts)
	fmt.Fprintf(tw, "resends (same command_id)\t%d\n", resends)
	fmt.Fprintf(tw, "retries after the chaos\t%d\n", retries)
	fmt.Fprintf(tw, "acknowledged commands\t%d\n", acked)
	for _, s := range []string{statusOK, "422", "409", "503", statusTimeout, statusNoResponders, "500", "404", "400", statusNATSError} {
		fmt.Fprintf(tw, "answers %s\t%d\n", s, byStatus[s])
		delete(byStatus, s)
	}
	for s, n := range byStatus {
		fmt.Fprintf(tw, "answers %s\t%d\n", s, n)
	}
	f.mu.Lock()
	fmt.Fprintf(tw, "SIGKILLs (writer, projector)\t%d, %d\n", f.killed["writer"], f.killed["projector"])
	fmt.Fprintf(tw, "SIGSTOPs (writer, projector)\t%d, %d\n", f.stopped["writer"], f.stopped["projector"])
	chaosLog := strings.Join(f.log, "\n  ")
	f.mu.Unlock()
	fmt.Fprintf(tw, "stray pulls\t%d rounds, messages taken %v\n", strayRounds, strays)
	fmt.Fprintf(tw, "events in the stream\t%d\n", len(v.stream))
	for _, inv := range v.all {
		state := "held"
		if len(inv.violations) > 0 {
			state = fmt.Sprintf("VIOLATED %d times", len(inv.violations))
		}
		fmt.Fprintf(tw, "promise: %s\t%s\n", inv.promise, state)
	}
	tw.Flush()
	t.Logf("summary:\n%s\nchaos:\n  %s", b.String(), chaosLog)
}
