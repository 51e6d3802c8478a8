package live

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/projections"
)

// Notice is what the projection runner publishes after each committed batch
// (core NATS, on NoticeSubject): the projection, its checkpoint after the
// batch and the aggregates ("<type>.<id>") the batch changed.
type Notice struct {
	Projection string   `json:"projection"`
	Checkpoint uint64   `json:"checkpoint"`
	Aggregates []string `json:"aggregates"`
}

// Notify returns the function to give projections.WithCommitted: it
// publishes a Notice per committed batch on nc. It never waits for a
// subscriber (a core NATS publish is buffered by the client); a notice that
// is lost is made up for by the servers' periodic check.
func Notify(nc *nats.Conn, deployment string) func(projections.Committed) {
	return func(c projections.Committed) {
		n := Notice{Projection: c.Projection, Checkpoint: uint64(c.Checkpoint), Aggregates: make([]string, len(c.Aggregates))}
		for i, ref := range c.Aggregates {
			n.Aggregates[i] = ref.Key()
		}
		body, err := json.Marshal(n)
		if err != nil {
			return
		}
		_ = nc.Publish(NoticeSubject(deployment, c.Projection), body)
	}
}
