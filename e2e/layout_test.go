package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// TestSeveralStreamsOnAClusterOfNATSProcesses: three nats-server processes
// (built from the module), the events in three R3 streams by aggregate
// type, two writer processes sharing the commands. The streams' leaders end
// on three different nodes; concurrent deposits on the same accounts through
// both writers keep each account's versions gap-free and its balance the sum
// of the acknowledged deposits, each stored once; a resend of a command_id is
// answered like its first attempt, position included.
func TestSeveralStreamsOnAClusterOfNATSProcesses(t *testing.T) {
	bin := binaries(t)
	cl := startCluster(t, bin, clusterSize)
	rd := testkit.StartRedis(t)
	nc, js, err := connectJS(cl.urls(), "layout test client")
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	layout := []string{"ACCOUNTS", "ORDERS", "PRODUCTS"}
	p := &platform{t: t, bin: bin, nc: nc, env: []string{"NATS_URL=" + cl.urls(), "REDIS_URL=" + rd.URL,
		fmt.Sprintf("JETSOURCE_STORE_REPLICAS=%d", clusterSize),
		"JETSOURCE_STORE_STREAMS=ACCOUNTS=account,transfer;ORDERS=order;PRODUCTS=product,user"}}
	p.run("writer")
	p.run("writer")

	send := func(subject, body string) ([]byte, error) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			msg, err := nc.Request(subject, []byte(body), 5*time.Second)
			if err == nil && msg.Header.Get(micro.ErrorCodeHeader) == "" {
				return msg.Data, nil
			}
			if err == nil && msg.Header.Get(micro.ErrorCodeHeader) != "503" {
				return nil, fmt.Errorf("%s %s: %s", subject, body, msg.Data)
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s %s: no success: %v", subject, body, err)
			}
		}
	}
	const accounts, clients, deposits = 8, 8, 25
	for a := range accounts {
		_, err := send("cmd.account.open", fmt.Sprintf(`{"aggregate_id":"acc-%d","command_id":"open-%d","data":{"owner":"o"}}`, a, a))
		require.NoError(t, err)
	}

	testkit.Eventually(t, 60*time.Second, func() bool {
		leaders := map[string]bool{}
		for _, s := range layout {
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			l, err := streamLeader(ctx, js, s)
			cancel()
			if err != nil {
				return false
			}
			leaders[l] = true
		}
		return len(leaders) == len(layout)
	}, "the leaders of %v on %d different nodes", layout, len(layout))

	var (
		mu    sync.Mutex
		acked = map[string]int64{}  // account -> sum of acknowledged deposits
		first = map[string][]byte{} // command_id -> body and first reply
		body  = map[string]string{}
	)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for d := range deposits {
				id := fmt.Sprintf("acc-%d", rand.IntN(accounts))
				cid := fmt.Sprintf("dep-%d-%d", c, d)
				amount := int64(1 + rand.IntN(9))
				b := fmt.Sprintf(`{"aggregate_id":%q,"command_id":%q,"data":{"amount":%d}}`, id, cid, amount)
				reply, err := send("cmd.account.deposit", b)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				acked[id] += amount
				first[cid], body[cid] = reply, b
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, first, clients*deposits, "every deposit acknowledged")

	// A resend of a command_id gets the first reply, byte for byte, with
	// its position in the accounts' stream.
	for _, cid := range []string{"dep-0-0", fmt.Sprintf("dep-%d-%d", clients-1, deposits-1)} {
		again, err := send("cmd.account.deposit", body[cid])
		require.NoError(t, err)
		assert.Equal(t, string(first[cid]), string(again), "the resend of %s", cid)
		var r struct {
			Sequence uint64 `json:"sequence"`
			Position string `json:"position"`
		}
		require.NoError(t, json.Unmarshal(again, &r))
		assert.Equal(t, "ACCOUNTS:"+strconv.FormatUint(r.Sequence, 10), r.Position)
	}

	// The accounts' stream holds each deposit once, in gap-free versions,
	// and the balance of each account is the sum of its acknowledged ones.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "ACCOUNTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.account.>"}})
	require.NoError(t, err)
	stored := map[string]int64{}
	versions := map[string]uint64{}
	commands := map[string]int{}
	for {
		msgs, err := cons.FetchNoWait(500)
		require.NoError(t, err)
		n := 0
		var last jetstream.Msg
		for m := range msgs.Messages() {
			n++
			last = m
			id := strings.TrimPrefix(m.Subject(), "events.account.")
			v, err := strconv.ParseUint(m.Headers().Get(streams.HeaderVersion), 10, 64)
			require.NoError(t, err)
			require.Equal(t, versions[id]+1, v, "versions of %s without gap or repeat", id)
			versions[id] = v
			commands[m.Headers().Get(streams.HeaderCommandID)]++
			if m.Headers().Get(streams.HeaderType) == "MoneyDeposited" {
				var e struct {
					Amount int64 `json:"amount"`
				}
				require.NoError(t, json.Unmarshal(m.Data(), &e))
				stored[id] += e.Amount
			}
		}
		require.NoError(t, msgs.Error())
		if n == 0 {
			break
		}
		if md, err := last.Metadata(); err == nil && md.NumPending == 0 {
			break
		}
	}
	assert.Equal(t, acked, stored, "balances are the sums of the acknowledged deposits")
	for cid := range first {
		assert.Equal(t, 1, commands[cid], "deposit %s stored once", cid)
	}
	// Nothing of the accounts went anywhere else.
	for _, s := range layout[1:] {
		st, err := js.Stream(ctx, s)
		require.NoError(t, err)
		assert.Zero(t, st.CachedInfo().State.Msgs, "stream %s holds no account event", s)
	}
}
