package streams_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// BenchmarkAppendLayout: concurrent single-event appends over 1,536
// aggregates of three types (256 in flight) on a 3-node cluster with R3
// streams, the events in one stream or in three (one per type, leaders on
// three nodes), each beside raw PublishMsgAsync of the same messages (same
// headers, a unique Nats-Msg-Id, the expected last subject sequence) into
// raw streams of the same layout and settings on the same cluster, in the
// same run, interleaved in chunks. store_ops/s of streams=3 over streams=1
// is what the layout buys; ratio is the store's cost over raw publishes.
//
// On one machine the three nodes share its cores: several streams then
// only split the same CPU between more Raft groups, and cannot be faster
// (measured on a loaded 2-core machine: no gain, raw or store). The gain
// is on separate nodes, where each leader orders and replicates its own
// stream's writes: with R3 over N nodes and at least N streams spread
// evenly, each node leads S/N streams and follows 2S/N, so the cluster
// carries about N/3 nodes' worth of replicated writes (N with R1).
func BenchmarkAppendLayout(b *testing.B) {
	types := []string{"ledger", "cart", "stock"}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			// One stream: today's default, EVENTS capturing events.>.
			layout, raw := streams.Layout(nil), streams.Layout{{Name: "RAW"}}
			if n == 3 {
				layout, raw = nil, nil
				for i, t := range types {
					layout = append(layout, streams.StreamSpec{Name: "EVENTS_" + strconv.Itoa(i), Types: []string{t}})
					raw = append(raw, streams.StreamSpec{Name: "RAW_" + strconv.Itoa(i), Types: []string{t}})
				}
			}
			benchAppendLayout(b, types, layout, raw)
		})
	}
}

func benchAppendLayout(b *testing.B, types []string, layout, raw streams.Layout) {
	const perType, inFlight = 512, 256
	c := testkit.StartCluster(b, 3)
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	store, err := streams.Open(ctx, nc, streams.WithLayout(layout), streams.WithReplicas(3), streams.WithTimeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(inFlight))
	if err != nil {
		b.Fatal(err)
	}
	for _, spec := range raw {
		cfg := streams.StreamConfig(streams.Options{Stream: spec.Name, Replicas: 3, DuplicateWindow: streams.DefaultDuplicateWindow})
		cfg.Subjects = []string{"raw.>"}
		if len(spec.Types) > 0 {
			cfg.Subjects = nil
		}
		for _, t := range spec.Types {
			cfg.Subjects = append(cfg.Subjects, "raw."+t+".>")
		}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			b.Fatal(err)
		}
	}
	streams.SpreadLeaders(ctx, js, raw, streams.Options{Logger: discardBenchLogger()})

	refs := make([]streams.Ref, 0, perType*len(types))
	subjects := make([]string, 0, cap(refs))
	for i := range perType {
		for _, t := range types {
			ref, _ := streams.NewRef(t, "agg-"+strconv.Itoa(i))
			refs = append(refs, ref)
			subjects = append(subjects, "raw."+t+".agg-"+strconv.Itoa(i))
		}
	}
	appendsBesideRaw(b, ctx, js, store, refs, subjects, inFlight)
}

func discardBenchLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
