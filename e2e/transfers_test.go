package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// requestRetry sends a request until a reply that is not a 503 comes.
func requestRetry(t *testing.T, nc *nats.Conn, m *nats.Msg) *nats.Msg {
	deadline := time.Now().Add(90 * time.Second)
	for {
		reply, err := nc.RequestMsg(m, 5*time.Second)
		if err == nil && reply.Header.Get(micro.ErrorCodeHeader) != "503" {
			return reply
		}
		if time.Now().After(deadline) {
			t.Errorf("%s %s: no answer: %v", m.Subject, m.Data, err)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Transfers among accounts from concurrent clients, some targets frozen,
// while the process manager is SIGKILLed and restarted again and again:
// money is neither created nor lost, every transfer ends completed or failed
// (refunded when its source was debited), no withdrawal or deposit happens
// twice, and every event of a transfer carries its correlation id.
// JETSOURCE_E2E_TRANSFERS sets how many (default 200, the figure
// 1000).
func TestTransfersSurviveProcessManagerSIGKILL(t *testing.T) {
	total := 200
	if v := os.Getenv("JETSOURCE_E2E_TRANSFERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "JETSOURCE_E2E_TRANSFERS")
		total = n
	}
	const accounts, opening, clients, kills = 50, 1000, 8, 6
	bin := binaries(t)
	natsURL, nc := startNATSServer(t, bin)
	rd := testkit.StartRedis(t)
	env := []string{"NATS_URL=" + natsURL, "REDIS_URL=" + rd.URL, "JETSOURCE_LOG_LEVEL=warn",
		"JETSOURCE_TRANSFER_TIMEOUT=20s", "JETSOURCE_PROCESS_PINNED_TTL=1s"}
	role := func(r string) *proc { return start(t, "transfers "+r, filepath.Join(bin, "transfers"), env, r) }
	role("writer")
	role("writer")
	role("projector")
	role("reader")
	var mu sync.Mutex
	managers := []*proc{role("manager"), role("manager")}

	id := func(i int) string { return fmt.Sprintf("acc-%02d", i) }
	send := func(typ, command, aggregate, cid, correlation string, data any) (string, string) {
		body, _ := json.Marshal(map[string]any{"aggregate_id": aggregate, "command_id": cid, "data": data})
		m := nats.NewMsg("cmd." + typ + "." + command)
		m.Data = body
		if correlation != "" {
			m.Header.Set(streams.HeaderCorrelationID, correlation)
		}
		reply := requestRetry(t, nc, m)
		if reply == nil {
			return "none", ""
		}
		return reply.Header.Get(micro.ErrorCodeHeader), string(reply.Data)
	}
	frozen := map[string]bool{}
	for i := range accounts {
		status, body := send("account", "open", id(i), "open-"+id(i), "", map[string]any{"owner": id(i)})
		require.Empty(t, status, body)
		status, body = send("account", "deposit", id(i), "fund-"+id(i), "", map[string]any{"amount": opening})
		require.Empty(t, status, body)
		if i%10 == 9 {
			frozen[id(i)] = true
			status, body = send("account", "freeze", id(i), "freeze-"+id(i), "", nil)
			require.Empty(t, status, body)
		}
	}

	// Chaos: SIGKILL a manager, start another, again and again.
	ctx, stop := context.WithCancel(context.Background())
	chaos := make(chan int)
	go func() {
		n := 0
		defer func() { chaos <- n }()
		for n < kills {
			select {
			case <-ctx.Done():
				return
			case <-time.After(1500 * time.Millisecond):
			}
			mu.Lock()
			victim := managers[n%len(managers)]
			if err := victim.sigkill(); err != nil {
				t.Error(err)
			}
			p, err := launch(t, "transfers manager", filepath.Join(bin, "transfers"), env, "manager")
			if err != nil {
				t.Error(err)
			} else {
				managers[n%len(managers)] = p
			}
			mu.Unlock()
			n++
		}
	}()

	type request struct{ From, To string }
	requests := make([]request, total)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 15))
			for i := c; i < total; i += clients {
				from, to := rng.IntN(accounts), rng.IntN(accounts-1)
				if to >= from {
					to++
				}
				requests[i] = request{id(from), id(to)}
				tid := fmt.Sprintf("tr-%04d", i)
				status, body := send("transfer", "request", tid, "req-"+tid, tid,
					map[string]any{"from": id(from), "to": id(to), "amount": 1 + rng.IntN(100)})
				if status != "" {
					t.Errorf("transfer.request %s: %s %s", tid, status, body)
				}
			}
		})
	}
	wg.Wait()
	// Killing goes on until every kill happened, while transfers run.
	killed := <-chaos
	stop()
	assert.Equal(t, kills, killed, "the process manager was SIGKILLed that often")

	store, err := streams.Open(context.Background(), nc)
	require.NoError(t, err)
	read := func(typ, aggregate string) []streams.Recorded {
		ref, err := streams.NewRef(typ, aggregate)
		require.NoError(t, err)
		var out []streams.Recorded
		for ev, err := range store.Read(context.Background(), ref, streams.Position{}, streams.Until{}) {
			require.NoError(t, err)
			out = append(out, ev)
		}
		return out
	}
	type view struct {
		Status   string `json:"status"`
		Refunded bool   `json:"refunded"`
		From     string `json:"from"`
		To       string `json:"to"`
	}
	views := make([]view, total)
	testkit.Eventually(t, 5*time.Minute, func() bool {
		for i := range total {
			if v := views[i]; v.Status == "completed" || v.Status == "failed" {
				continue
			}
			body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("tr-%04d", i)})
			reply, err := nc.Request("query.transfer.get", body, 5*time.Second)
			if err != nil {
				return false
			}
			var out struct{ Data view }
			if json.Unmarshal(reply.Data, &out) != nil {
				return false
			}
			views[i] = out.Data
			if out.Data.Status != "completed" && out.Data.Status != "failed" {
				return false
			}
		}
		return true
	}, "every transfer ends completed or failed")

	// Money: the sum of the balances, from the read model, once it caught up.
	testkit.Eventually(t, time.Minute, func() bool {
		sum := 0
		for i := range accounts {
			body, _ := json.Marshal(map[string]any{"id": id(i)})
			reply, err := nc.Request("query.account.get", body, 5*time.Second)
			if err != nil {
				return false
			}
			var out struct{ Data struct{ Balance int } }
			if json.Unmarshal(reply.Data, &out) != nil {
				return false
			}
			sum += out.Data.Balance
		}
		return sum == accounts*opening
	}, "the sum of the balances is %d", accounts*opening)

	// Each movement once, counted in the stream per transfer (its
	// correlation id), and each transfer's own events carry its id.
	moves := map[string]map[string]int{}
	for i := range accounts {
		for _, ev := range read("account", id(i)) {
			if ev.Type != "MoneyWithdrawn" && ev.Type != "MoneyDeposited" || ev.CorrelationID == "" {
				continue
			}
			if moves[ev.CorrelationID] == nil {
				moves[ev.CorrelationID] = map[string]int{}
			}
			moves[ev.CorrelationID][ev.Type+" "+id(i)]++
		}
	}
	outcomes := map[string]int{}
	for i := range total {
		tid := fmt.Sprintf("tr-%04d", i)
		v, r := views[i], requests[i]
		got := moves[tid]
		var want map[string]int
		switch {
		case v.Status == "completed":
			want = map[string]int{"MoneyWithdrawn " + r.From: 1, "MoneyDeposited " + r.To: 1}
			outcomes["completed"]++
		case v.Refunded:
			want = map[string]int{"MoneyWithdrawn " + r.From: 1, "MoneyDeposited " + r.From: 1}
			outcomes["refunded"]++
		default:
			want = nil
			outcomes["failed before the withdrawal"]++
		}
		if len(want) == 0 {
			assert.Empty(t, got, "%s %+v", tid, v)
		} else {
			assert.Equal(t, want, got, "%s %+v", tid, v)
		}
		if v.Status == "completed" {
			assert.False(t, frozen[r.To], "%s completed into frozen %s", tid, r.To)
		}
		for _, ev := range read("transfer", tid) {
			assert.Equal(t, tid, ev.CorrelationID, "%s %s", tid, ev.Type)
		}
	}
	t.Logf("%d transfers: %v", total, outcomes)
	assert.NotZero(t, outcomes["completed"])
	assert.NotZero(t, outcomes["refunded"], "frozen targets make refunds")
	mu.Lock()
	defer mu.Unlock()
}
