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
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/writer"
)

// The projector's micro service, which serves the rebuild requests.
const (
	// RebuildSubject is the prefix of the projector's rebuild requests:
	// RebuildSubject.<projection>.
	RebuildSubject = "jetsource.projector.rebuild"
	// ProjectorService is the micro service name of the projector.
	ProjectorService = "jetsource-projector"
	// ProjectorVersion is its version.
	ProjectorVersion = "0.1.0"
	// ProjectorQueueGroup is shared by every projector, so that each
	// rebuild request is served by one of them.
	ProjectorQueueGroup = "jetsource-projector"
)

// RebuildSubjectOf is the prefix of the rebuild requests of a deployment's
// projectors: RebuildSubject, or jetsource.<deployment>.projector.rebuild
// for a named deployment.
func RebuildSubjectOf(deployment string) string {
	if deployment == "" {
		return RebuildSubject
	}
	return "jetsource." + deployment + ".projector.rebuild"
}

// ServeRebuilds serves RebuildSubject.<projection> with r until ctx is done:
// each request rebuilds one projection and is answered when the rebuild is
// done, {"rebuilt": "<projection>"}, or with the contract's error body and
// micro error headers: 404 not_found for an unknown projection, 409 conflict
// while a rebuild of it runs (in any projector), 503 unavailable when the
// projector stops first, 500 internal otherwise. It returns once the
// endpoint is subscribed; wait returns when ctx is done, the endpoint is
// stopped and the rebuilds it started have ended.
//
// deployment, when not empty, names the deployment: the service is
// jetsource-projector-<deployment> in the queue group of that name, on
// RebuildSubjectOf(deployment), so each deployment's projectors rebuild only
// their own read models.
func ServeRebuilds(ctx context.Context, nc *nats.Conn, r *projections.Runner, deployment string, log *slog.Logger) (wait func() error, err error) {
	return ServeProjector(ctx, nc, r, nil, deployment, log)
}

// ServeProjector serves the rebuilds as ServeRebuilds does and, with report
// set, the status of the projections on StatusSubjectOf(deployment) (in the
// same micro service and queue group: one projector answers, from the
// Redis they share), {"projections": [admin.Projection…]}, or 503
// unavailable with the contract's error body when it cannot read them.
func ServeProjector(ctx context.Context, nc *nats.Conn, r *projections.Runner, report func(context.Context) ([]admin.Projection, error), deployment string, log *slog.Logger) (wait func() error, err error) {
	subject := RebuildSubjectOf(deployment)
	name := writer.Named(ProjectorService, "-", deployment)
	svc, err := micro.AddService(nc, micro.Config{Name: name, Version: ProjectorVersion,
		Description: "jetsource projector: rebuilds on " + subject + ".<projection>", QueueGroup: writer.Named(ProjectorQueueGroup, "-", deployment)})
	if err != nil {
		return nil, fmt.Errorf("projector: %w", err)
	}
	var inFlight sync.WaitGroup
	handler := micro.HandlerFunc(func(req micro.Request) {
		name := strings.TrimPrefix(req.Subject(), subject+".")
		reply := req.Reply()
		// A rebuild takes a while: it must not hold up the next request.
		inFlight.Go(func() {
			h, body := rebuildReply(name, r.Rebuild(ctx, name), log)
			if err := nc.PublishMsg(&nats.Msg{Subject: reply, Header: h, Data: body}); err != nil {
				log.Warn("rebuild reply not sent", "projection", name, "error", err)
			}
		})
	})
	if err := svc.AddEndpoint("rebuild", handler, micro.WithEndpointSubject(subject+".*")); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("projector: %w", err)
	}
	if report != nil {
		if err := svc.AddEndpoint("status", statusEndpoint(ctx, report, log), micro.WithEndpointSubject(StatusSubjectOf(deployment))); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("projector: %w", err)
		}
	}
	return func() error {
		<-ctx.Done()
		err := svc.Stop()
		inFlight.Wait()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			return err
		}
		return nil
	}, nil
}

// rebuildReply is the answer to a rebuild that ended with err.
func rebuildReply(name string, err error, log *slog.Logger) (nats.Header, []byte) {
	if err == nil {
		body, _ := json.Marshal(map[string]string{"rebuilt": name})
		return nil, body
	}
	status, code, message := http.StatusInternalServerError, "internal", "internal error; it has been logged"
	switch {
	case errors.Is(err, projections.ErrUnknownProjection):
		status, code, message = http.StatusNotFound, "not_found", fmt.Sprintf("no projection %q", name)
	case errors.Is(err, projections.ErrRebuildRunning):
		status, code, message = http.StatusConflict, "conflict", fmt.Sprintf("a rebuild of %s is already running", name)
	case errors.Is(err, context.Canceled):
		status, code, message = http.StatusServiceUnavailable, "unavailable", "the projector stopped before the rebuild was done"
	default:
		log.Error("rebuild failed", "projection", name, "error", err)
	}
	h := nats.Header{}
	h.Set(micro.ErrorCodeHeader, strconv.Itoa(status))
	h.Set(micro.ErrorHeader, message)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return h, body
}
