package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jetsource/jetsource/projections"
)

// ErrUnknownProjection means the deployment has no projection of the name.
var ErrUnknownProjection = errors.New("unknown projection")

// Projection is a projection's status beside the stream's end.
type Projection struct {
	projections.Report
	// StreamLast is the sequence of the stream's last event.
	StreamLast uint64 `json:"stream_last_sequence"`
	// Lag is how many events the projection has still to apply
	// (projections.Lag: what jetsource_projection_lag and the reader's
	// readiness count).
	Lag uint64 `json:"lag"`
}

// Projections reports each of the deployment's projections (see
// projections.Inspect) with its lag (projections.Lag).
func (c *Client) Projections(ctx context.Context) ([]Projection, error) {
	if c.Redis == nil {
		return nil, ErrNoRedis
	}
	lasts := map[string]uint64{}
	out := make([]Projection, 0, len(c.ProjectionNames))
	for _, name := range c.ProjectionNames {
		stream := c.streamOf(name)
		last, seen := lasts[stream]
		if !seen {
			var err error
			if last, err = c.lastSequenceOf(ctx, stream); err != nil {
				return nil, err
			}
			lasts[stream] = last
		}
		rep, err := projections.Inspect(ctx, c.Redis, name)
		if err != nil {
			return nil, err
		}
		lag, err := projections.Lag(ctx, c.Store.JetStream(), stream, c.Deployment, c.Redis,
			func(context.Context) (uint64, error) { return last, nil }, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Projection{Report: rep, StreamLast: last, Lag: lag})
	}
	return out, nil
}

// projection checks that name is one of the deployment's projections.
func (c *Client) projection(name string) error {
	if !slices.Contains(c.ProjectionNames, name) {
		return fmt.Errorf("%w %q (the deployment has: %s)", ErrUnknownProjection, name, strings.Join(c.ProjectionNames, ", "))
	}
	return nil
}
