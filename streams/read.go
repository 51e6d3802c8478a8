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
	msg, err := s.stream.GetLastMsgForSubject(ctx, ref.Subject())
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
// bound until, fetched with batched direct gets (no consumer), their
// personal fields opened (or null, when ref was forgotten). The sequence
// yields an error as its last element when reading fails.
func (s *Store) Read(ctx context.Context, ref Ref, from Position, until Until) iter.Seq2[Recorded, error] {
	return func(yield func(Recorded, error) bool) {
		want := from.Version + 1
		// suspects are events that break the version sequence: skipped when
		// a later correction (EventVoided) voids them, an error otherwise.
		var suspects []*BrokenHistoryError
		for st, err := range s.stored(ctx, ref, from.Sequence+1) {
			if err != nil {
				yield(Recorded{}, err)
				return
			}
			r := st.Recorded
			if until.reached(r) {
				return
			}
			if r.Version != want {
				suspects = append(suspects, &BrokenHistoryError{Ref: ref, Sequence: r.Sequence, Type: r.Type, Got: r.Version, Want: want})
				continue
			}
			if voided, ok := voidOf(r); ok {
				for i, b := range suspects {
					if b.Sequence == voided {
						suspects = append(suspects[:i], suspects[i+1:]...)
						break
					}
				}
			}
			if len(suspects) > 0 {
				// A valid version after a break that no correction voided.
				yield(Recorded{}, fmt.Errorf("read %s: %w", ref, suspects[0]))
				return
			}
			r, err := Unseal(ctx, s.keys, r)
			if err != nil {
				yield(Recorded{}, fmt.Errorf("read %s: %w", ref, err))
				return
			}
			if !yield(r, nil) {
				return
			}
			want++
		}
		if len(suspects) > 0 {
			yield(Recorded{}, fmt.Errorf("read %s: %w", ref, suspects[0]))
		}
	}
}

// stored yields the stored events of ref from sequence start on, in order,
// as readBatch fetches them, and an error as its last element when reading
// fails.
func (s *Store) stored(ctx context.Context, ref Ref, start Sequence) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		subject := ref.Subject()
		for {
			batch, done, err := s.readBatch(ctx, ref, subject, start)
			if err != nil {
				yield(Stored{}, err)
				return
			}
			for _, st := range batch {
				start = st.Sequence + 1
				if !yield(st, nil) {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// readBatch fetches up to ReadBatch events of subject from sequence start.
// done reports that nothing follows them. A read that did not end with the
// server's own answer (events whose Nats-Num-Pending says what is left, or
// its "no messages" status) is an error wrapping ErrUnavailable: the batch
// iterator ends silently when the server does not answer in time, and that
// silence must never read as "no events".
func (s *Store) readBatch(ctx context.Context, ref Ref, subject string, start Sequence) ([]Stored, bool, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Stream, s.opts.ReadBatch,
		jetstreamext.GetBatchSeq(uint64(start)), jetstreamext.GetBatchSubject(subject))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", ref, classifyBatch(err))
	}
	out := make([]Stored, 0, s.opts.ReadBatch)
	pending := ""
	for msg, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return out, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", ref, classifyBatch(err))
		}
		rec, err := Decode(msg.Subject, Sequence(msg.Sequence), msg.Header, msg.Data)
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", ref, err)
		}
		out = append(out, Stored{Recorded: rec, Header: msg.Header})
		pending = headerValue(msg.Header, "Nats-Num-Pending")
	}
	if len(out) == 0 {
		return nil, false, fmt.Errorf("read %s from sequence %d: %w: no answer from the server", ref, start, errIncomplete(ctx))
	}
	// The server counts what is left for the subject as it serves the batch:
	// zero means this batch reached the end. Anything else (a full batch, a
	// batch cut by the server's byte limit, or one cut short by a timeout)
	// is followed by another request from the next sequence, which either
	// answers or fails.
	return out, pending == "0", nil
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
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Stream, 1,
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
		batch, done, err := s.readBatch(ctx, ref, ref.Subject(), start)
		if err != nil {
			return nil, err
		}
		for _, r := range batch {
			if r.CommandID == commandID {
				out = append(out, r.Recorded)
			}
			start = r.Sequence + 1
		}
		if done {
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
	req, _ := json.Marshal(map[string]string{"last_by_subj": ref.Subject()})
	msg, err := s.js.Conn().RequestWithContext(ctx, apiMsgGet+s.opts.Stream, req)
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
