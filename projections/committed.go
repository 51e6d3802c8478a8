package projections

import "github.com/jetsource/jetsource/streams"

// Committed describes one batch a projection committed: its checkpoint after
// the batch and the aggregates whose events the batch applied, once each, in
// the order of their first event. The runner hands it to Options.Committed
// and knows nothing of who listens (package live publishes it as a notice).
type Committed struct {
	Projection string
	Checkpoint streams.Sequence
	Aggregates []streams.Ref
}

// committedOf describes a committed batch of events of projection name.
func committedOf(name string, checkpoint streams.Sequence, events []streams.Recorded) Committed {
	c := Committed{Projection: name, Checkpoint: checkpoint}
	seen := make(map[streams.Ref]bool, len(events))
	for _, ev := range events {
		if !seen[ev.Ref] {
			seen[ev.Ref] = true
			c.Aggregates = append(c.Aggregates, ev.Ref)
		}
	}
	return c
}
