package service

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// Layout is the deployment's layout of event streams (store.streams): nil
// for the one stream store.stream.
func Layout(cfg config.Config) (streams.Layout, error) {
	specs, err := cfg.Store.Streams.Specs()
	if err != nil {
		return nil, fmt.Errorf("config: store.streams: %w", err)
	}
	var l streams.Layout
	for _, s := range specs {
		l = append(l, streams.StreamSpec{Name: s.Name, Types: s.Types})
	}
	return l, nil
}

// ProjectionStreams maps each of the platform's projections to the stream
// its subjects lie in; a projection spanning streams is refused, naming
// them. Nil in a deployment of one stream.
func (p *Platform) ProjectionStreams(cfg config.Config) (map[string]string, error) {
	layout, err := Layout(cfg)
	if err != nil || !layout.MultiStream() {
		return nil, err
	}
	out := map[string]string{}
	for _, pr := range p.projections() {
		stream, err := layout.StreamOfSubjects(pr.Subjects)
		if err != nil {
			return nil, fmt.Errorf("projection %s: %w", pr.Name, err)
		}
		out[pr.Name] = stream
	}
	return out, nil
}

// LastSequenceIn returns the last sequence of one event stream (a reader's
// end of each stream in a deployment of several).
func LastSequenceIn(js jetstream.JetStream) func(context.Context, string) (uint64, error) {
	return func(ctx context.Context, stream string) (uint64, error) {
		return reader.LastSequenceOf(js, stream)(ctx)
	}
}

// ProjectionLagIn is ProjectionLag in a deployment of several streams: each
// projection's lag in the stream it follows (streamOf).
func ProjectionLagIn(js jetstream.JetStream, streamOf map[string]string, deployment string, rdb redis.Cmdable) func(context.Context, string) (uint64, error) {
	return func(ctx context.Context, name string) (uint64, error) {
		stream := streamOf[name]
		return projections.Lag(ctx, js, stream, deployment, rdb, reader.LastSequenceOf(js, stream), name)
	}
}
