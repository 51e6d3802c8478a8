package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/streams"
)

const (
	// checkConcurrency is how many reads the check keeps in flight.
	checkConcurrency = 16
	// checkWait is how long a read-model read waits for the projection to
	// reach a stream's last acknowledged write.
	checkWait = 10 * time.Second
	// catchUpWait bounds how long a read waits, over several queries, for
	// the projection to reach a write.
	catchUpWait = 2 * time.Minute
	// MaxProblems is how many problems a Consistency lists (it counts
	// them all).
	MaxProblems = 20
)

// CheckOptions configure Check; the zero value means the defaults.
type CheckOptions struct {
	// Stream is the JetStream stream of the events (DefaultStream).
	Stream string
	// Timeout bounds one read (DefaultTimeout).
	Timeout time.Duration
	// Progress receives a progress line (nil: none).
	Progress io.Writer
}

// Consistency is the result of the check that every acknowledged write
// can be read back.
type Consistency struct {
	// Checked is how many acknowledged events were checked.
	Checked int `json:"checked"`
	// InStream is how many were in the event stream at their sequence, on
	// their stream's subject, with their version and body.
	InStream int `json:"in_stream"`
	// InReadModel is how many the read model (query.bench.stream) showed
	// at their version, with their sequence and body.
	InReadModel int `json:"in_read_model"`
	// Passed is true when every acknowledged event was found in both.
	Passed bool `json:"passed"`
	// Problems lists the first MaxProblems missing or different events.
	Problems []string `json:"problems,omitempty"`
}

// problems collects the check's findings from concurrent readers.
type problems struct {
	n    atomic.Int64
	list chan string
}

func (p *problems) add(format string, args ...any) {
	p.n.Add(1)
	select {
	case p.list <- fmt.Sprintf(format, args...):
	default:
	}
}

// Check reads back every acknowledged event twice: from the event stream
// (a direct get of its sequence: the subject events.bench.<stream>, the
// Es-Version header and the body must be the acknowledged ones) and through
// the platform's query.bench.stream (its version must hold its sequence and
// body, once the projection reached the stream's last acknowledged write).
// It returns an error only when it cannot check at all.
func Check(ctx context.Context, nc *nats.Conn, acks []Ack, o CheckOptions) (Consistency, error) {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return Consistency{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, o.Timeout)
	stream, err := js.Stream(sctx, o.Stream)
	cancel()
	if err != nil {
		return Consistency{}, fmt.Errorf("check: stream %s: %w", o.Stream, err)
	}
	// The read model is asked to reach each stream's last acknowledged
	// write, but never past the stream's end: an acknowledgement of an
	// event that is not there must fail the check, not wait for it.
	end := stream.CachedInfo().State.LastSeq
	p := &problems{list: make(chan string, MaxProblems)}
	var inStream, inModel, done atomic.Int64
	stop := progress(Options{Progress: o.Progress, ProgressEvery: DefaultProgressEvery}, func(elapsed time.Duration) string {
		return fmt.Sprintf("checking %d acknowledged events: %d read back  %.0fs", len(acks), done.Load(), elapsed.Seconds())
	})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(checkConcurrency)
	for _, a := range acks {
		g.Go(func() error {
			defer done.Add(1)
			if checkInStream(gctx, stream, a, o.Timeout, p) {
				inStream.Add(1)
			}
			return gctx.Err()
		})
	}
	err = g.Wait()
	if err == nil {
		done.Store(0)
		g, gctx = errgroup.WithContext(ctx)
		g.SetLimit(checkConcurrency)
		c := client{nc: nc}
		for id, as := range byStream(acks) {
			g.Go(func() error {
				defer done.Add(int64(len(as)))
				inModel.Add(int64(checkInReadModel(gctx, c, id, as, end, p)))
				return gctx.Err()
			})
		}
		err = g.Wait()
	}
	stop()
	if err != nil {
		return Consistency{}, err
	}
	close(p.list)
	cons := Consistency{Checked: len(acks), InStream: int(inStream.Load()), InReadModel: int(inModel.Load())}
	for s := range p.list {
		cons.Problems = append(cons.Problems, s)
	}
	if n := int(p.n.Load()); n > len(cons.Problems) {
		cons.Problems = append(cons.Problems, fmt.Sprintf("… and %d more", n-len(cons.Problems)))
	}
	cons.Passed = p.n.Load() == 0 && cons.InStream == len(acks) && cons.InReadModel == len(acks)
	return cons, nil
}

// checkInStream checks that the event at a's sequence is a.
func checkInStream(ctx context.Context, s jetstream.Stream, a Ack, timeout time.Duration, p *problems) bool {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := s.GetMsg(rctx, a.Sequence)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		p.add("%s version %d: no event at its sequence %d", a.Stream, a.Version, a.Sequence)
		return false
	case err != nil:
		p.add("%s version %d: reading sequence %d: %v", a.Stream, a.Version, a.Sequence, err)
		return false
	}
	subject := streams.SubjectPrefix + "." + Type + "." + a.Stream
	version := msg.Header.Get(streams.HeaderVersion)
	switch {
	case msg.Subject != subject:
		p.add("%s version %d: sequence %d holds an event of %s", a.Stream, a.Version, a.Sequence, msg.Subject)
	case version != strconv.FormatUint(a.Version, 10):
		p.add("%s version %d: sequence %d holds version %s", a.Stream, a.Version, a.Sequence, version)
	case !bytes.Equal(msg.Data, EventBody(a.Token, a.Size)):
		p.add("%s version %d: sequence %d holds another body (%d bytes)", a.Stream, a.Version, a.Sequence, len(msg.Data))
	default:
		return true
	}
	return false
}

// checkInReadModel reads stream id through the platform, once it reached
// the stream's last acknowledged write (or the end of the event stream),
// and counts the acks (all of stream id) it shows as acknowledged.
func checkInReadModel(ctx context.Context, c client, id string, acks []Ack, end uint64, p *problems) int {
	var last, top uint64
	for _, a := range acks {
		last, top = max(last, a.Sequence), max(top, a.Version)
	}
	last = min(last, end)
	shown := map[uint64]StoredEvent{}
	for from := uint64(1); from <= top; from += MaxReadLimit {
		page, err := c.readAfter(ctx, id, int(from), MaxReadLimit, last)
		if err != nil {
			p.add("%s: read model: %v", id, err)
			return 0
		}
		for _, e := range page.Events {
			shown[e.Version] = e
		}
		if len(page.Events) < MaxReadLimit {
			break
		}
	}
	found := 0
	for _, a := range acks {
		e, ok := shown[a.Version]
		switch {
		case !ok:
			p.add("%s version %d (sequence %d): not in the read model", id, a.Version, a.Sequence)
		case e.Sequence != a.Sequence:
			p.add("%s version %d: the read model has sequence %d, acknowledged %d", id, a.Version, e.Sequence, a.Sequence)
		case !bytes.Equal(e.Data, EventBody(a.Token, a.Size)):
			p.add("%s version %d: the read model has another body", id, a.Version)
		default:
			found++
		}
	}
	return found
}

// byStream groups acks by their stream.
func byStream(acks []Ack) map[string][]Ack {
	m := map[string][]Ack{}
	for _, a := range acks {
		m[a.Stream] = append(m[a.Stream], a)
	}
	return m
}
