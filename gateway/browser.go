package gateway

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/jetsource/jetsource/streams"
)

// The event browser's page: HTML, JavaScript and CSS in the binary, no
// build step, nothing fetched from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

// BrowserPath is where the event browser's page is served; its JSON
// endpoints are under AdminPath.
const (
	BrowserPath = "/ui/"
	AdminPath   = "/v1/admin/"
)

// liveKeepAlive is how often the live events stream sends a comment when
// nothing happens, so that proxies and the browser keep the connection.
const liveKeepAlive = 15 * time.Second

// pageSecurity are the headers of the page's files: its scripts and styles
// come from the gateway only, and it talks to the gateway only.
var pageSecurity = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-cache",
}

// Errors a Browser wraps so that the gateway answers with the contract's
// status: 400 bad_request, 404 not_found, 503 unavailable; any other error
// is 500 internal.
var (
	ErrBadRequest  = errors.New("bad request")
	ErrNotFound    = errors.New("not found")
	ErrUnavailable = errors.New("unavailable")
)

// Browser is what the event browser shows: an operator's view of the event
// store and the projections. Package service implements it on package
// admin; each result is encoded as JSON as it is.
type Browser interface {
	// Types are the aggregate types the platform knows.
	Types() []string
	// History is every event of an aggregate, in order, with its headers.
	History(ctx context.Context, ref streams.Ref) (any, error)
	// State is the aggregate's state at version (replayed up to it).
	State(ctx context.Context, ref streams.Ref, version streams.Version) (any, error)
	// Projections are the projections with their status and lag.
	Projections(ctx context.Context) (any, error)
	// Tail follows the events appended from now on, calling ready once it
	// follows and send with each, until ctx is done or send fails.
	Tail(ctx context.Context, ready func(), send func(LiveEvent) error) error
}

// LiveEvent is one event of the live stream: its stream sequence (the
// Server-Sent Event's id) and what the page shows of it.
type LiveEvent struct {
	Sequence streams.Sequence
	Event    any
}

// WithBrowser serves the event browser over b: the page at BrowserPath (open:
// it holds no data) and its JSON endpoints under AdminPath, which need the
// admin scope when authentication is on. Without it neither is served.
func WithBrowser(b Browser) Option { return func(o *Options) { o.Browser = b } }

// routeBrowser adds the page and the admin endpoints to the gateway's mux.
func (g *Gateway) routeBrowser(b Browser) {
	page, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	files := http.StripPrefix(BrowserPath, http.FileServerFS(page))
	g.mux.Handle("GET "+BrowserPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range pageSecurity {
			w.Header().Set(k, v)
		}
		files.ServeHTTP(w, r)
	}))
	admin := func(pattern string, h http.HandlerFunc) {
		g.mux.Handle("GET "+AdminPath+pattern, g.require(ScopeAdmin, h))
	}
	admin("types", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"types": b.Types()})
	})
	admin("aggregates/{type}/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		ref, ok := refOf(w, r)
		if !ok {
			return
		}
		g.answer(w, r, func(ctx context.Context) (any, error) { return b.History(ctx, ref) })
	})
	admin("aggregates/{type}/{id}/state", func(w http.ResponseWriter, r *http.Request) {
		ref, ok := refOf(w, r)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
		if err != nil || v == 0 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("version must be a positive integer, got %q", r.URL.Query().Get("version")))
			return
		}
		g.answer(w, r, func(ctx context.Context) (any, error) { return b.State(ctx, ref, streams.Version(v)) })
	})
	admin("projections", func(w http.ResponseWriter, r *http.Request) {
		g.answer(w, r, b.Projections)
	})
	// The live stream checks the scope itself: it counts against the
	// client's long polls.
	g.mux.HandleFunc("GET "+AdminPath+"live", func(w http.ResponseWriter, r *http.Request) { g.live(w, r, b) })
}

// refOf is the aggregate the request's path names, or false once it has
// answered 400.
func refOf(w http.ResponseWriter, r *http.Request) (streams.Ref, bool) {
	ref, err := streams.NewRef(r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return streams.Ref{}, false
	}
	return ref, true
}

// answer runs read within the gateway's timeout and writes its result as
// JSON, or its error with the contract's status.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, read func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.Timeout)
	defer cancel()
	v, err := read(ctx)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		g.writeBrowserError(w, r, err)
		return
	}
	writeJSON(w, v)
}

func (g *Gateway) writeBrowserError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, streams.ErrInvalidRef):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	default:
		g.opts.Logger.Error("event browser", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error; it has been logged")
	}
}

// live streams the events appended from now on as Server-Sent Events: a
// "ready" event once it follows, then one message per event, its id the
// stream sequence. A client that reconnects follows from then on (the
// timeline of an aggregate has what it missed). Each stream holds one of the
// client's long polls (WithMaxLongPolls), so that a client cannot open
// consumers without end.
func (g *Gateway) live(w http.ResponseWriter, r *http.Request, b Browser) {
	client, authErr := g.authorize(r, ScopeAdmin)
	if authErr != nil {
		authErr.write(w)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "this connection cannot stream")
		return
	}
	if !g.longPolls.acquire(client.Name) {
		writeError(w, http.StatusTooManyRequests, "too_many_requests",
			fmt.Sprintf("%s already has %d live streams or waiting queries open; close one", client.Name, g.opts.MaxLongPolls))
		return
	}
	defer g.longPolls.release(client.Name)
	// The stream ends when the client goes or the gateway stops.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(g.stopping, cancel)
	defer stop()

	// One writer at a time: the events and the keep-alive comments.
	out := make(chan []byte)
	tailed := make(chan error, 1)
	go func() {
		tailed <- b.Tail(ctx,
			func() { send(ctx, out, []byte("event: ready\ndata: {}\n\n")) },
			func(ev LiveEvent) error {
				data, err := json.Marshal(ev.Event)
				if err != nil {
					return err
				}
				if !send(ctx, out, fmt.Appendf(nil, "id: %d\ndata: %s\n\n", ev.Sequence, data)) {
					return ctx.Err()
				}
				return nil
			})
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepAlive := time.NewTicker(liveKeepAlive)
	defer keepAlive.Stop()
	for {
		var chunk []byte
		select {
		case chunk = <-out:
		case <-keepAlive.C:
			chunk = []byte(": keep-alive\n\n")
		case err := <-tailed:
			if err != nil && ctx.Err() == nil {
				g.opts.Logger.Warn("event browser: live events ended", "error", err)
				fmt.Fprintf(w, "event: failed\ndata: %s\n\n", mustJSON(map[string]string{"message": err.Error()}))
				flusher.Flush()
			}
			return
		}
		if _, err := w.Write(chunk); err != nil {
			cancel()
			<-tailed
			return
		}
		flusher.Flush()
	}
}

// send hands chunk to the writer, or reports false once ctx is done.
func send(ctx context.Context, out chan<- []byte, chunk []byte) bool {
	select {
	case out <- chunk:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
