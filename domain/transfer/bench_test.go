package transfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
)

// BenchmarkTransfers measures transfers completed per second end to end
// (request -> the process manager's six commands -> TransferCompleted), and
// beside it, in the same run, the write rate of the same writer: account
// deposits per second from as many concurrent clients. ratio is transfers/s
// over commands/s (a transfer is seven commands: 1/7 is the ceiling when the
// manager keeps up with the writer).
func BenchmarkTransfers(b *testing.B) {
	const nAccounts, clients = 50, 16
	r := startRig(b)
	r.run("writer", func(ctx context.Context) error {
		return service.New(accounts, transfers).RunWriter(ctx, r.cfg, r.n.Connect(), ops.New(r.log), r.log)
	})
	r.manager(0)
	for i := range nAccounts {
		r.must("account", "open", fmt.Sprintf("b-%02d", i), account.Open{Owner: "bench"})
		r.must("account", "deposit", fmt.Sprintf("b-%02d", i), account.Deposit{Amount: 1 << 40})
	}
	parallel := func(n int, send func(i int) *nats.Msg) {
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for i := c; i < n; i += clients {
					reply, err := r.nc.RequestMsg(send(i), 10*time.Second)
					if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
						b.Errorf("command %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	msg := func(subject string, body map[string]any) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data, _ = json.Marshal(body)
		return m
	}

	// Baseline: the writer's rate for plain commands.
	began := time.Now()
	parallel(b.N, func(i int) *nats.Msg {
		return msg("cmd.account.deposit", map[string]any{"aggregate_id": fmt.Sprintf("b-%02d", i%nAccounts), "data": map[string]any{"amount": 1}})
	})
	commandsPerSec := float64(b.N) / time.Since(began).Seconds()

	// Transfers, until the last one completed.
	cons, err := r.store.JetStream().OrderedConsumer(context.Background(), "EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"events.transfer.>"}, DeliverPolicy: jetstream.DeliverNewPolicy})
	require.NoError(b, err)
	completed := make(chan struct{}, b.N)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if m.Headers().Get("Es-Type") == "TransferCompleted" {
			completed <- struct{}{}
		}
	})
	require.NoError(b, err)
	defer cc.Stop()
	b.ResetTimer()
	began = time.Now()
	go parallel(b.N, func(i int) *nats.Msg {
		return msg("cmd.transfer.request", map[string]any{"aggregate_id": fmt.Sprintf("bt-%d-%d", b.N, i),
			"data": transfer.Request{From: fmt.Sprintf("b-%02d", i%nAccounts), To: fmt.Sprintf("b-%02d", (i+1)%nAccounts), Amount: 1}})
	})
	for range b.N {
		select {
		case <-completed:
		case <-time.After(2 * time.Minute):
			b.Fatal("transfers stopped completing")
		}
	}
	elapsed := time.Since(began)
	b.StopTimer()
	transfersPerSec := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(transfersPerSec, "transfers/s")
	b.ReportMetric(commandsPerSec, "commands/s")
	b.ReportMetric(transfersPerSec/commandsPerSec, "ratio")
}
