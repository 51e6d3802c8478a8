package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// Event is one stored event as an operator reads it.
type Event struct {
	Subject  string    `json:"subject"`
	Type     string    `json:"type"`
	Version  uint64    `json:"version"`
	Sequence uint64    `json:"sequence"`
	Time     time.Time `json:"time"`
	// Headers are the message's headers (the first value of each).
	Headers map[string]string `json:"headers"`
	// Payload is the event's JSON, its personal fields opened (null once
	// the aggregate was forgotten).
	Payload json.RawMessage `json:"payload"`
	// Forgotten names the personal fields that read as null.
	Forgotten []string `json:"forgotten,omitempty"`
	// VoidedBy is the sequence of the correction (EventVoided) that voids
	// the event; 0 when it stands.
	VoidedBy uint64 `json:"voided_by,omitempty"`
}

// eventOf is the operator's view of a stored event.
func eventOf(st streams.Stored) Event {
	return Event{
		Subject: st.Ref.Subject(), Type: st.Type, Version: uint64(st.Version), Sequence: uint64(st.Sequence),
		Time: st.Time, Headers: headersOf(st.Header), Payload: payloadOf(st.Data), Forgotten: st.Forgotten,
	}
}

// readHeaders are the headers a direct get adds to a stored message: they
// describe the read, not the event.
var readHeaders = []string{jetstream.StreamHeader, jetstream.SequenceHeader, jetstream.TimeStampHeaer,
	jetstream.SubjectHeader, jetstream.LastSequenceHeader, "Nats-Num-Pending"}

// headersOf is the first value of each of the event's headers.
func headersOf(h nats.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 && !slices.Contains(readHeaders, k) {
			out[k] = v[0]
		}
	}
	return out
}

// payloadOf keeps a JSON payload as it is and makes anything else (an event
// a foreign publisher wrote) a JSON string, so that an Event always encodes.
func payloadOf(data []byte) json.RawMessage {
	if json.Valid(data) {
		return data
	}
	b, _ := json.Marshal(string(data))
	return b
}

// History returns the events of aggregate typ/id in stream order up to the
// bound until (the zero Until: all of them), every one as stored: the events
// that break the version sequence and the corrections too, each voided
// event marked with the correction that voids it (within the bound).
func (c *Client) History(ctx context.Context, typ, id string, until streams.Until) ([]Event, error) {
	ref, err := streams.NewRef(typ, id)
	if err != nil {
		return nil, err
	}
	var out []Event
	at := map[uint64]int{}
	for st, err := range c.Store.History(ctx, ref, until) {
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", ref, err)
		}
		if st.Type == streams.VoidType {
			var v streams.Void
			if json.Unmarshal(st.Data, &v) == nil {
				if i, ok := at[uint64(v.Sequence)]; ok {
					out[i].VoidedBy = uint64(st.Sequence)
				}
			}
		}
		at[uint64(st.Sequence)] = len(out)
		out = append(out, eventOf(st))
	}
	return out, nil
}
