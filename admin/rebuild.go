package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jetsource/jetsource/projections"
)

// Rebuild asks the deployment's projectors to rebuild projection name (a
// request on RebuildSubject.<name>) and waits until the rebuild is done,
// reporting its progress meanwhile: progress(done, total) is called each
// time the new generation reaches further, where total is the stream's last
// sequence when the rebuild was asked for, and once more at the end. A
// refusal (an unknown projection, a rebuild of it already running) is a
// *ReplyError; no projector running is ErrNoService. When ctx ends first,
// Rebuild returns ctx's error and the rebuild goes on in the projector.
func (c *Client) Rebuild(ctx context.Context, name string, progress func(done, total uint64)) error {
	if c.Redis == nil {
		return ErrNoRedis
	}
	if err := c.projection(name); err != nil {
		return err
	}
	total, err := c.LastSequence(ctx)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(uint64, uint64) {}
	}
	subject := c.RebuildSubject + "." + name
	type answer struct {
		data []byte
		err  error
	}
	answered := make(chan answer, 1)
	// The request waits as long as the rebuild runs: ctx alone ends it.
	go func() {
		reply, err := c.NATS.RequestWithContext(ctx, subject, nil)
		if err != nil {
			answered <- answer{err: requestError(subject, "projector", err)}
			return
		}
		answered <- answer{data: reply.Data, err: replyError(subject, reply)}
	}()
	var shown uint64
	show := func(done uint64) {
		if done = min(done, total); done > shown || (done == total && shown == 0) {
			shown = done
			progress(done, total)
		}
	}
	tick := time.NewTicker(c.pollEvery())
	defer tick.Stop()
	for {
		select {
		case a := <-answered:
			if a.err != nil {
				return a.err
			}
			var ok struct {
				Rebuilt string `json:"rebuilt"`
			}
			if err := json.Unmarshal(a.data, &ok); err != nil || ok.Rebuilt != name {
				return fmt.Errorf("%s: unexpected answer %q", subject, a.data)
			}
			rep, err := projections.Inspect(ctx, c.Redis, name)
			if err != nil {
				return err
			}
			show(rep.Reached)
			return nil
		case <-tick.C:
			rep, err := projections.Inspect(ctx, c.Redis, name)
			if err == nil && rep.Rebuild != nil {
				show(rep.Rebuild.Reached)
			}
		}
	}
}
