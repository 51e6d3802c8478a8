package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Recorded is an event as stored.
type Recorded struct {
	Ref           Ref
	Type          string
	Version       Version
	Sequence      Sequence
	Schema        int
	Time          time.Time
	ID            string
	CommandID     string
	CorrelationID string
	CausationID   string
	// TraceParent and TraceState are the W3C trace context the event was
	// appended in (its traceparent and tracestate headers); empty when it
	// carries none.
	TraceParent string
	TraceState  string
	// Data is the JSON payload, with its personal fields opened.
	Data []byte
	// Forgotten names the personal fields of Data that read as null because
	// their aggregate was forgotten (see Store.Forget).
	Forgotten []string
}

// Position is the aggregate's position right after this event.
func (r Recorded) Position() Position { return Position{Version: r.Version, Sequence: r.Sequence} }

// Decode parses a stored event message (as delivered to a consumer or read
// with a direct get) into a Recorded.
func Decode(subject string, seq Sequence, h nats.Header, data []byte) (Recorded, error) {
	ref, err := ParseSubject(subject)
	if err != nil {
		return Recorded{}, fmt.Errorf("%w at sequence %d: %v", ErrCorruptEvent, seq, err)
	}
	return decode(ref, subject, seq, h, data)
}

// decodeOf is Decode for a read of ref, whose subject is known valid: a
// message of that subject skips parsing it again.
func decodeOf(ref Ref, refSubject, subject string, seq Sequence, h nats.Header, data []byte) (Recorded, error) {
	if subject != refSubject {
		return Decode(subject, seq, h, data)
	}
	return decode(ref, subject, seq, h, data)
}

func decode(ref Ref, subject string, seq Sequence, h nats.Header, data []byte) (Recorded, error) {
	var err error
	r := Recorded{Ref: ref, Sequence: seq, Data: data}
	r.Type = headerValue(h, HeaderType)
	if r.Type == "" {
		return Recorded{}, fmt.Errorf("%w at sequence %d (%s): no %s header", ErrCorruptEvent, seq, subject, HeaderType)
	}
	v, err := strconv.ParseUint(headerValue(h, HeaderVersion), 10, 64)
	if err != nil || v == 0 {
		return Recorded{}, fmt.Errorf("%w at sequence %d (%s): %s header %q is not a positive integer",
			ErrCorruptEvent, seq, subject, HeaderVersion, headerValue(h, HeaderVersion))
	}
	r.Version = Version(v)
	r.Schema = 1
	if sv := headerValue(h, HeaderSchema); sv != "" {
		if r.Schema, err = strconv.Atoi(sv); err != nil || r.Schema < 1 {
			return Recorded{}, fmt.Errorf("%w at sequence %d (%s): %s header %q is not a positive integer",
				ErrCorruptEvent, seq, subject, HeaderSchema, sv)
		}
	}
	if tv := headerValue(h, HeaderTime); tv != "" {
		if r.Time, err = time.Parse(time.RFC3339Nano, tv); err != nil {
			return Recorded{}, fmt.Errorf("%w at sequence %d (%s): %s header %q is not RFC 3339",
				ErrCorruptEvent, seq, subject, HeaderTime, tv)
		}
	}
	r.ID = headerValue(h, HeaderMsgID)
	r.CommandID = headerValue(h, HeaderCommandID)
	r.CorrelationID = headerValue(h, HeaderCorrelationID)
	r.CausationID = headerValue(h, HeaderCausationID)
	r.TraceParent = h.Get(HeaderTraceParent)
	r.TraceState = h.Get(HeaderTraceState)
	return r, nil
}

// headerValue reads a header by its exact name: the store writes canonical
// names and the lookup skips Header.Get's canonicalisation.
func headerValue(h nats.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return h.Get(name)
}

// Head returns the aggregate's current position, read with one direct get of
// its last event; the zero Position when it has none.
func (s *Store) Head(ctx context.Context, ref Ref) (Position, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	name, err := s.route(ref)
	if err != nil {
		return Position{}, fmt.Errorf("head %w", err)
	}
	msg, err := s.streams[name].GetLastMsgForSubject(ctx, ref.Subject())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("head %s: %w", ref, classify(err))
	}
	rec, err := Decode(msg.Subject, Sequence(msg.Sequence), msg.Header, msg.Data)
	if err != nil {
		return Position{}, fmt.Errorf("head %s: %w", ref, err)
	}
	return rec.Position(), nil
}

// Until bounds a read: the zero Until reads to the end.
type Until struct {
	// Version stops after this version (0: no bound).
	Version Version
	// Time stops before the first event recorded after it (zero: no bound).
	Time time.Time
}

func (u Until) reached(r Recorded) bool {
	return (u.Version != 0 && r.Version > u.Version) || (!u.Time.IsZero() && r.Time.After(u.Time))
}

// Read yields the events of ref after position from, in order, up to the
// bound until, their personal fields opened (or null, when ref was
// forgotten). The sequence yields an error as its last element when reading
// fails; a read that did not end with the server's own answer fails with
// ErrUnavailable, never reads as "no more events".
//
// The read path follows what is to be read: one batched direct get of up to
// ShortRead events (no consumer, one round trip) serves short tails; the
// server's count of what is left after it decides the rest. A tail of at
// least LongRead events more is streamed by a short-lived push consumer
// (several times faster per event than direct gets, at the cost of one
// consumer creation); a shorter one by further direct gets. Events are
// folded as they arrive: a read never holds the whole history.
func (s *Store) Read(ctx context.Context, ref Ref, from Position, until Until) iter.Seq2[Recorded, error] {
	return s.read(ctx, ref, from, until, nil)
}

// read is Read, starting with first when it was sent from from.Sequence+1.
func (s *Store) read(ctx context.Context, ref Ref, from Position, until Until, first *firstBatch) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		f := folder{ctx: ctx, s: s, ref: ref, until: until, want: from.Version + 1, yield: yield}
		next := from.Sequence + 1
		subject := ref.Subject()
		if first == nil || first.start != next {
			first.discard()
			first = s.sendFirstBatch(ctx, ref, next)
		}
		if next == 1 {
			// How long whole histories of the type are decides whether the
			// next one starts with a consumer (see sendFirstBatch).
			defer func() {
				if f.complete {
					s.lengths.record(ref.Type(), f.want-1 >= Version(s.opts.ShortRead+s.opts.LongRead))
				}
			}()
		}
		if l := first.long; l != nil {
			first = nil
			if done, err := l.run(ctx, f.step); done {
				f.end(err)
				return
			}
			// The server refused the consumer: direct gets read.
		}
		var batch []Stored
		left, err := uint64(0), error(nil)
		for {
			if first != nil {
				batch, left, err = first.collect()
				first = nil
			} else {
				batch, left, err = s.readBatch(ctx, ref, subject, next, s.opts.ReadBatch)
			}
			if err != nil {
				yield(Recorded{}, err)
				return
			}
			for _, st := range batch {
				next = st.Sequence + 1
				if !f.step(st.Recorded) {
					return
				}
			}
			if left == 0 {
				f.finish()
				return
			}
			if s.opts.LongRead > 0 && left >= uint64(s.opts.LongRead) && !s.noConsumers.Load() {
				if done, err := s.readConsumer(ctx, ref, subject, next, f.step); done {
					f.end(err)
					return
				}
				// The server refused the consumer: direct gets read on.
			}
		}
	}
}

// firstBatch is the first request of a read, sent before it is read: a
// load sends it along with its snapshot's get, so a short aggregate without
// snapshot loads in one round trip. It is the first direct get (ShortRead
// events), or for a whole history of a type whose whole histories have
// mostly been long, the creation of the read's consumer (long), which
// spares a long read the direct get's round trip before it.
type firstBatch struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	ref    Ref
	start  Sequence
	call   *getCall
	err    error
	long   *longRead
}

// sendFirstBatch sends the first request of a read of ref from sequence
// start (see firstBatch); collect or discard it.
func (s *Store) sendFirstBatch(ctx context.Context, ref Ref, start Sequence) *firstBatch {
	if start == 1 && s.opts.LongRead > 0 && s.lengths.long(ref.Type()) {
		if l, err := s.startLongRead(ctx, ref, ref.Subject(), start); l != nil && err == nil {
			return &firstBatch{s: s, ref: ref, start: start, long: l}
		}
	}
	b := &firstBatch{s: s, ref: ref, start: start}
	b.ctx, b.cancel = withTimeout(ctx, s.opts.Timeout)
	var stream string
	if stream, b.err = s.route(ref); b.err == nil {
		b.call, b.err = s.gets.send(stream, ref.Subject(), start, s.opts.ShortRead)
	}
	return b
}

func (b *firstBatch) collect() ([]Stored, uint64, error) {
	defer b.cancel()
	if b.err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", b.ref, classify(b.err))
	}
	return b.call.collect(b.ctx, b.ref, b.ref.Subject(), b.start, b.s.opts.ShortRead)
}

// discard drops a first batch that is not read (nil: none).
func (b *firstBatch) discard() {
	if b == nil {
		return
	}
	if b.long != nil {
		b.long.discard()
		return
	}
	if b.err == nil {
		b.call.close()
	}
	b.cancel()
}

// folder checks the events of one read and hands them on: complete history
// (versions without gap, a break only where a correction voids it), the
// bound, personal data opened.
type folder struct {
	ctx   context.Context
	s     *Store
	ref   Ref
	until Until
	want  Version
	yield func(Recorded, error) bool
	// suspects are events that break the version sequence: skipped when a
	// later correction (EventVoided) voids them, an error otherwise.
	suspects []*BrokenHistoryError
	stopped  bool
	// complete is set when the read reached the end of the aggregate's
	// events (not a bound, not an error).
	complete bool
}

// step takes the next stored event of the aggregate, in stream order, and
// reports whether the read goes on.
func (f *folder) step(r Recorded) bool {
	if f.until.reached(r) {
		f.stopped = true
		return false
	}
	if r.Version != f.want {
		f.suspects = append(f.suspects, &BrokenHistoryError{Ref: f.ref, Sequence: r.Sequence, Type: r.Type, Got: r.Version, Want: f.want})
		return true
	}
	if voided, ok := voidOf(r); ok {
		for i, b := range f.suspects {
			if b.Sequence == voided {
				f.suspects = append(f.suspects[:i], f.suspects[i+1:]...)
				break
			}
		}
	}
	if len(f.suspects) > 0 {
		// A valid version after a break that no correction voided.
		f.fail(fmt.Errorf("read %s: %w", f.ref, f.suspects[0]))
		return false
	}
	r, err := Unseal(f.ctx, f.s.keys, r)
	if err != nil {
		f.fail(fmt.Errorf("read %s: %w", f.ref, err))
		return false
	}
	if !f.yield(r, nil) {
		f.stopped = true
		return false
	}
	f.want++
	return true
}

func (f *folder) fail(err error) {
	f.stopped = true
	f.yield(Recorded{}, err)
}

// end ends a read that a consumer ended: with its error, or finished.
func (f *folder) end(err error) {
	if err != nil {
		f.yield(Recorded{}, err)
		return
	}
	f.finish()
}

// finish ends a read that reached the end of the aggregate's events.
func (f *folder) finish() {
	if !f.stopped && len(f.suspects) > 0 {
		f.yield(Recorded{}, fmt.Errorf("read %s: %w", f.ref, f.suspects[0]))
		return
	}
	f.complete = !f.stopped
}

// readBatch fetches up to batch events of subject from sequence start.
// left is what the server counts after them for the subject (0: nothing
// follows). A read that did not end with the server's own answer (its
// end-of-batch mark after events whose Nats-Num-Pending says what is left,
// or its "no messages" status) is an error wrapping ErrUnavailable: silence
// must never read as "no events".
func (s *Store) readBatch(ctx context.Context, ref Ref, subject string, start Sequence, batch int) ([]Stored, uint64, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	stream, err := s.route(ref)
	if err != nil {
		return nil, 0, fmt.Errorf("read %w", err)
	}
	call, err := s.gets.send(stream, subject, start, batch)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", ref, classify(err))
	}
	return call.collect(ctx, ref, subject, start, batch)
}

// errIncomplete is the error of a batched read that ended without the
// server's final answer: the context's error when it is done, a timeout
// otherwise (the batch iterator gave up waiting).
func errIncomplete(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, nats.ErrTimeout)
}

// classifyBatch classifies an error of a batched direct get. The store
// refuses servers without batch gets at start, so a reply the batch client
// cannot take for a message (a status such as 503 no responders or 408, or
// a malformed one) means the read did not complete: ErrUnavailable.
func classifyBatch(err error) error {
	if errors.Is(err, jetstreamext.ErrBatchUnsupported) || errors.Is(err, jetstreamext.ErrInvalidResponse) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return classify(err)
}

// commandLookback widens the duplicate window when looking for a command's
// events, for clock skew between writers and the server.
const commandLookback = time.Minute

// CommandEvents returns the events of ref that command commandID appended
// within the stream's duplicate window: after an append refused as a
// duplicate, they are what the first attempt stored.
func (s *Store) CommandEvents(ctx context.Context, ref Ref, commandID string) ([]Recorded, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	since := time.Now().Add(-s.opts.DuplicateWindow - commandLookback)
	stream, err := s.route(ref)
	if err != nil {
		return nil, fmt.Errorf("command events %w", err)
	}
	msgs, err := jetstreamext.GetBatch(ctx, s.js, stream, 1,
		jetstreamext.GetBatchStartTime(since), jetstreamext.GetBatchSubject(ref.Subject()))
	if err != nil {
		return nil, fmt.Errorf("command events %s: %w", ref, classifyBatch(err))
	}
	var start Sequence
	for msg, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("command events %s: %w", ref, classifyBatch(err))
		}
		start = Sequence(msg.Sequence)
	}
	if start == 0 {
		// Neither an event nor "no messages": the server did not answer.
		return nil, fmt.Errorf("command events %s: %w: no answer from the server", ref, errIncomplete(ctx))
	}
	var out []Recorded
	for start > 0 {
		batch, left, err := s.readBatch(ctx, ref, ref.Subject(), start, s.opts.ReadBatch)
		if err != nil {
			return nil, err
		}
		for _, st := range batch {
			if st.CommandID == commandID {
				out = append(out, st.Recorded)
			}
			start = st.Sequence + 1
		}
		if left == 0 {
			break
		}
	}
	return out, nil
}

// apiMsgGet is the JetStream API subject of a message get that only the
// stream's leader answers (no direct get, which a lagging replica may serve).
const apiMsgGet = "$JS.API.STREAM.MSG.GET."

// errCodeNoMessage is JetStream's "no message found".
const errCodeNoMessage = 10037

// LeaderSequence returns the stream sequence of the aggregate's last event
// as the stream's leader knows it (0 when it has none). Loads use direct
// gets, which any replica of a clustered stream may answer, a little behind
// the leader after a failover; a refusal decided on such a load (404, 422, a
// stale expected_version) is confirmed with this read before it is answered.
func (s *Store) LeaderSequence(ctx context.Context, ref Ref) (Sequence, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	stream, err := s.route(ref)
	if err != nil {
		return 0, fmt.Errorf("leader head %w", err)
	}
	req, _ := json.Marshal(map[string]string{"last_by_subj": ref.Subject()})
	msg, err := s.js.Conn().RequestWithContext(ctx, apiMsgGet+stream, req)
	if err != nil {
		return 0, fmt.Errorf("leader head %s: %w", ref, classify(err))
	}
	var resp struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("leader head %s: %w: unreadable answer: %v", ref, ErrUnavailable, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == errCodeNoMessage:
		return 0, nil
	case resp.Error != nil:
		return 0, fmt.Errorf("leader head %s: %w: %s (%d)", ref, ErrUnavailable, resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return 0, fmt.Errorf("leader head %s: %w: empty answer", ref, ErrUnavailable)
	}
	return Sequence(resp.Message.Seq), nil
}
