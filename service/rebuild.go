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

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/internal/microsvc"
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
	// microsvc, not micro: a rebuild is answered after the handler returned,
	// and its stats count it then, with its error replies.
	svc, err := microsvc.AddService(nc, microsvc.Config{Name: name, Version: ProjectorVersion,
		Description: "jetsource projector: rebuilds on " + subject + ".<projection>", QueueGroup: writer.Named(ProjectorQueueGroup, "-", deployment)})
	if err != nil {
		return nil, fmt.Errorf("projector: %w", err)
	}
	var inFlight sync.WaitGroup
	handler := func(req *microsvc.Request) {
		name := strings.TrimPrefix(req.Subject(), subject+".")
		// A rebuild takes a while: it must not hold up the next request.
		inFlight.Go(func() {
			if err := answerRebuild(req, name, r.Rebuild(ctx, name), log); err != nil {
				log.Warn("rebuild reply not sent", "projection", name, "error", err)
			}
		})
	}
	if err := svc.AddEndpoint("rebuild", handler, microsvc.WithSubject(subject+".*")); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("projector: %w", err)
	}
	if report != nil {
		if err := svc.AddEndpoint("status", statusEndpoint(ctx, report, log), microsvc.WithSubject(StatusSubjectOf(deployment))); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("projector: %w", err)
		}
	}
	return func() error {
		<-ctx.Done()
		err := svc.Stop()
		// Every request taken has reached the handler (and its rebuild
		// was started) before the wait for the rebuilds begins.
		<-svc.Drained()
		inFlight.Wait()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			return err
		}
		return nil
	}, nil
}

// answerRebuild answers the request of a rebuild that ended with err.
func answerRebuild(req *microsvc.Request, name string, err error, log *slog.Logger) error {
	if err == nil {
		body, _ := json.Marshal(map[string]string{"rebuilt": name})
		return req.Respond(body)
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
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return req.Error(strconv.Itoa(status), message, body)
}
