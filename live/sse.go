package live

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/reader"
)

// Handler serves live queries as Server-Sent Events at
// GET /v1/live/{model}/{name}?<params> (the gateway routes them here after
// checking the query:<model> scope). The query string holds the query's
// parameters, as for GET /v1/queries; Last-Event-ID (or the parameter
// last_event_id) resumes after that sequence. Each answer is an event
// "answer" (or "reset") with id: its sequence and data: {"sequence",
// "data"|"error"}; a subscriber that falls Buffer answers behind gets a
// final event "error" with the error body (code slow_subscriber).
type Handler struct {
	nc      *nats.Conn
	numeric map[string]map[string]bool
	buffer  int
}

// NewHandler returns the SSE handler of the queries (their declared types
// tell which parameters are numbers); buffer bounds a client's unread
// answers (0: DefaultBuffer).
func NewHandler(nc *nats.Conn, queries []reader.Query, buffer int) *Handler {
	return &Handler{nc: nc, numeric: reader.NumericParams(queries), buffer: buffer}
}

// lastEventIDParam is the query parameter a browser's EventSource cannot
// send as a header on its first connection.
const lastEventIDParam = "last_event_id"

// sseWriteTimeout bounds one write to a client: a client that does not read
// is cut off.
const sseWriteTimeout = 10 * time.Second

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	model, name := r.PathValue("model"), r.PathValue("name")
	params := map[string]any{}
	after := uint64(0)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Last-Event-ID must be a sequence (a non-negative integer), got %q", id))
			return
		}
		after = n
	}
	for key, values := range r.URL.Query() {
		if len(values) != 1 {
			writeHTTPError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("parameter %q is given %d times", key, len(values)))
			return
		}
		if key == lastEventIDParam {
			n, err := strconv.ParseUint(values[0], 10, 64)
			if err != nil {
				writeHTTPError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s must be a sequence, got %q", key, values[0]))
				return
			}
			after = max(after, n)
			continue
		}
		v, err := reader.HTTPParam(key, values[0], h.numeric[model+"."+name][key])
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		params[key] = v
	}
	body, _ := json.Marshal(params)
	sub, err := Subscribe(r.Context(), h.nc, model, name, body, After(after), WithBuffer(h.buffer))
	if err != nil {
		var refused *SubscribeError
		if errors.As(err, &refused) {
			writeHTTPError(w, refused.Status, refused.Code, refused.Message)
			return
		}
		writeHTTPError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	defer sub.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return
		case u, ok := <-sub.Updates():
			buf.Reset()
			if !ok {
				reason := sub.Err()
				if reason == nil {
					return
				}
				code := "unavailable"
				if errors.Is(reason, ErrSlowSubscriber) {
					code = "slow_subscriber"
				}
				data, _ := json.Marshal(map[string]ErrorBody{"error": {Code: code, Message: reason.Error()}})
				fmt.Fprintf(&buf, "event: error\ndata: %s\n\n", data)
			} else {
				event := "answer"
				if u.Reset {
					event = "reset"
				}
				data, _ := json.Marshal(Message{Sequence: u.Sequence, Data: u.Data, Error: u.Error})
				fmt.Fprintf(&buf, "event: %s\nid: %d\ndata: %s\n\n", event, u.Sequence, data)
			}
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, err := w.Write(buf.Bytes()); err != nil || rc.Flush() != nil || !ok {
				return
			}
		}
	}
}

func writeHTTPError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]ErrorBody{"error": {Code: code, Message: message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
