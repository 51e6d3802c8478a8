package writer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/streams"
)

// Wire error codes (DESIGN §2).
const (
	CodeBadRequest  = "bad_request"
	CodeNotFound    = "not_found"
	CodeConflict    = "conflict"
	CodeRejected    = "rejected"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)

// RequestError is an error with its wire code and HTTP-like status.
type RequestError struct {
	Status  int
	Code    string
	Message string
	// retryable marks a refusal that another attempt may not repeat (a
	// conflict that gave up after retries): it is not kept for twins.
	retryable bool
}

func (e *RequestError) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrBadRequest) true for a bad_request.
func (e *RequestError) Is(target error) bool {
	return target == ErrBadRequest && e.Code == CodeBadRequest
}

// ErrBadRequest matches (errors.Is) every *RequestError of code bad_request.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

// errShuttingDown answers a request that reached a writer after it stopped
// taking work: nothing was done, and another writer will take a retry.
var errShuttingDown = &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "the writer is shutting down; nothing was done, send the command again"}

// errFull answers a command whose worker's queue is full: shedding load at
// once beats queueing work its client will have given up on.
var errFull = &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "the writer is full; nothing was done, send the command again later"}

// errWaitedTooLong answers a command that waited in its worker's queue past
// the writer's maximum queue wait: it is not executed.
var errWaitedTooLong = &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "the command waited past its deadline in the writer's queue; nothing was done, send it again"}

// errOutcomeUnknown marks an append whose outcome the event store never
// confirmed, even after retrying it with the same event ids: the command is
// not answered, since neither success nor 503 would be sure to be true.
var errOutcomeUnknown = errors.New("append outcome unknown")

// errorBody is the JSON body of an error reply.
func errorBody(e *RequestError) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
	return b
}

// classify maps an error of the command's flow to its wire error. internal
// reports whether it is a bug (logged with details, answered vaguely).
func classify(err error) (e *RequestError, internal bool) {
	var (
		re     *RequestError
		broken *streams.BrokenHistoryError
	)
	switch {
	case errors.As(err, &re):
		return re, false
	case errors.As(err, &broken):
		// Not a bug of the caller's, nor one to hide: the stream holds an
		// event that breaks the aggregate's history (forged or repeated);
		// nothing is decided on it until an admin voids that event.
		return &RequestError{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: "refused: the history of " + broken.Error()}, true
	case errors.Is(err, aggregate.ErrInvalid), errors.Is(err, streams.ErrInvalidRef),
		errors.Is(err, aggregate.ErrUnknownCommand), errors.Is(err, streams.ErrBatchTooLarge):
		return &RequestError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}, false
	case errors.Is(err, aggregate.ErrNotFound):
		return &RequestError{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}, false
	case errors.Is(err, errOutcomeUnknown):
		// Never sent (the worker does not answer), listed for completeness.
		return &RequestError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "outcome unknown"}, true
	case errors.Is(err, aggregate.ErrExists), errors.Is(err, streams.ErrConflict):
		return &RequestError{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}, false
	case errors.Is(err, aggregate.ErrRejected):
		return &RequestError{Status: http.StatusUnprocessableEntity, Code: CodeRejected, Message: err.Error()}, false
	case errors.Is(err, streams.ErrUnavailable):
		return &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the event store cannot be reached or timed out; if the command was sent with a command_id, sending it again is safe"}, false
	}
	return &RequestError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; it has been logged"}, true
}
