package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/streams"
)

// StatusSubject is where the projectors answer with the status of their
// projections (admin.Projection each, with its lag): {"projections": […]}.
// The gateway's event browser asks there, so that the gateway needs no Redis.
const StatusSubject = "jetsource.projector.status"

// StatusSubjectOf is StatusSubject, or jetsource.<deployment>.projector.status
// for a named deployment.
func StatusSubjectOf(deployment string) string {
	if deployment == "" {
		return StatusSubject
	}
	return "jetsource." + deployment + ".projector.status"
}

// browser is the gateway's event browser on package admin: the events and
// states read from the event store on the gateway's connection, the live
// events from an ordered consumer, and the projections as a projector
// reports them on StatusSubjectOf.
type browser struct {
	admin *admin.Client
	// status is the subject the projectors report the projections on.
	status string
}

var _ gateway.Browser = browser{}

// Types implements gateway.Browser.
func (b browser) Types() []string { return b.admin.Aggregates.Types() }

// History implements gateway.Browser: an aggregate without events is not
// found.
func (b browser) History(ctx context.Context, ref streams.Ref) (any, error) {
	if _, ok := b.admin.Aggregates[ref.Type()]; !ok {
		return nil, fmt.Errorf("%w: %w %q (registered: %s)", gateway.ErrNotFound, admin.ErrUnknownType, ref.Type(), strings.Join(b.Types(), ", "))
	}
	events, err := b.admin.History(ctx, ref.Type(), ref.ID(), streams.Until{})
	if err != nil {
		return nil, browserError(err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: %s has no events", gateway.ErrNotFound, ref)
	}
	return map[string]any{"type": ref.Type(), "id": ref.ID(), "events": events}, nil
}

// State implements gateway.Browser: the state replayed from the first event
// (no snapshot), as the aggregate's definition folds it.
func (b browser) State(ctx context.Context, ref streams.Ref, version streams.Version) (any, error) {
	st, err := b.admin.State(ctx, ref.Type(), ref.ID(), streams.Until{Version: version}, false)
	if err != nil {
		return nil, browserError(err)
	}
	if !st.Exists {
		return nil, fmt.Errorf("%w: %s has no events", gateway.ErrNotFound, ref)
	}
	return st, nil
}

// Projections implements gateway.Browser with a request to the projectors.
func (b browser) Projections(ctx context.Context) (any, error) {
	msg, err := b.admin.NATS.RequestWithContext(ctx, b.status, nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: no projector answers on %s", gateway.ErrUnavailable, b.status)
	case err != nil:
		return nil, fmt.Errorf("%w: the projectors did not answer on %s: %w", gateway.ErrUnavailable, b.status, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, fmt.Errorf("%w: the projector answered %s: %s", gateway.ErrUnavailable, code, msg.Header.Get(micro.ErrorHeader))
	}
	return json.RawMessage(msg.Data), nil
}

// Tail implements gateway.Browser.
func (b browser) Tail(ctx context.Context, ready func(), send func(gateway.LiveEvent) error) error {
	events, err := b.admin.Tail(ctx, "")
	if err != nil {
		return browserError(err)
	}
	ready()
	for ev, err := range events {
		if err != nil {
			return err
		}
		if err := send(gateway.LiveEvent{Sequence: streams.Sequence(ev.Sequence), Event: ev}); err != nil {
			return err
		}
	}
	return nil
}

// browserError marks err with the gateway's status for it.
func browserError(err error) error {
	switch {
	case errors.Is(err, admin.ErrUnknownType):
		return fmt.Errorf("%w: %w", gateway.ErrNotFound, err)
	case errors.Is(err, streams.ErrUnavailable):
		return fmt.Errorf("%w: %w", gateway.ErrUnavailable, err)
	}
	return err
}

// statusEndpoint answers a status request with the projections' report.
func statusEndpoint(ctx context.Context, report func(context.Context) ([]admin.Projection, error), log *slog.Logger) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		ps, err := report(ctx)
		if err != nil {
			log.Warn("projections status", "error", err)
			message := "cannot read the projections: " + err.Error()
			body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "unavailable", "message": message}})
			_ = req.Error(strconv.Itoa(http.StatusServiceUnavailable), message, body)
			return
		}
		_ = req.RespondJSON(map[string]any{"projections": ps})
	})
}
