// Package gateway is the HTTP front door of jetsource (the seed's API
// gateway). It holds no domain logic: it turns an HTTP request into a NATS
// request on the contract's subjects and the NATS reply back into HTTP.
//
//	POST /v1/commands/{type}/{command}   body: the command JSON of DESIGN §2
//	                                     -> request on cmd.<type>.<command>
//	GET  /v1/queries/{model}/{name}?p=v  -> request on query.<model>.<name>
//	                                        with {"p": "v", …} as the body
//
// Service errors travel in NATS as the micro headers Nats-Service-Error-Code
// and Nats-Service-Error; the gateway answers with that code as the HTTP
// status and the reply body as it is ({"error": {"code", "message"}}). When
// nothing offers the subject (no responders) it says 404 not_found (DESIGN
// §2); when the answer is late, 503 unavailable.
package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/reader"
)

// Defaults of the gateway's settings.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 10 * time.Second
)

// envelopeParams are the parameters every query takes, as JSON numbers.
var envelopeParams = []string{"min_sequence", "wait_ms"}

var tokenPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Options configure a Gateway.
type Options struct {
	MaxBodyBytes int64
	Timeout      time.Duration
	Logger       *slog.Logger
	// Queries are the queries the reader serves: their declared parameter
	// types tell which query parameters travel as JSON numbers. Without
	// them, only min_sequence and wait_ms do.
	Queries []reader.Query
}

// Gateway is an http.Handler forwarding to NATS.
type Gateway struct {
	nc   *nats.Conn
	opts Options
	// numeric lists, per query subject, the parameters sent as numbers.
	numeric map[string]map[string]bool
	mux     *http.ServeMux
}

// New returns a gateway that forwards over nc.
func New(nc *nats.Conn, options ...Option) *Gateway {
	var opts Options
	for _, o := range options {
		o(&opts)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Gateway{nc: nc, opts: opts, numeric: map[string]map[string]bool{}, mux: http.NewServeMux()}
	for _, q := range opts.Queries {
		numeric := map[string]bool{}
		for _, p := range q.Params {
			numeric[p.Name] = p.Numeric()
		}
		g.numeric[q.Subject()] = numeric
	}
	g.mux.HandleFunc("POST /v1/commands/{type}/{command}", g.command)
	g.mux.HandleFunc("GET /v1/queries/{model}/{name}", g.query)
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: use POST /v1/commands/{type}/{command} or GET /v1/queries/{model}/{name}")
	})
	return g
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

func (g *Gateway) command(w http.ResponseWriter, r *http.Request) {
	typ, cmd := r.PathValue("type"), r.PathValue("command")
	if !tokenPattern.MatchString(typ) || !tokenPattern.MatchString(cmd) {
		writeError(w, http.StatusBadRequest, "bad_request", "type and command must match [a-z][a-z0-9_]{0,63}")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("body is larger than %d bytes", g.opts.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "cannot read body: "+err.Error())
		return
	}
	g.forward(w, r, "cmd."+typ+"."+cmd, body)
}

func (g *Gateway) query(w http.ResponseWriter, r *http.Request) {
	model, name := r.PathValue("model"), r.PathValue("name")
	if !tokenPattern.MatchString(model) || !tokenPattern.MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", "model and name must match [a-z][a-z0-9_]{0,63}")
		return
	}
	params := map[string]any{}
	for key, values := range r.URL.Query() {
		if len(values) != 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("parameter %q is given %d times", key, len(values)))
			return
		}
		if slices.Contains(envelopeParams, key) || g.numeric["query."+model+"."+name][key] {
			n, err := strconv.ParseInt(values[0], 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("parameter %q must be an integer, got %q", key, values[0]))
				return
			}
			params[key] = n
			continue
		}
		params[key] = values[0]
	}
	body, err := json.Marshal(params)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "cannot encode the query")
		return
	}
	g.forward(w, r, "query."+model+"."+name, body)
}

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, subject string, body []byte) {
	start := time.Now()
	msg := nats.NewMsg(subject)
	msg.Data = body
	ctx := r.Context()
	reply, err := g.nc.RequestMsg(msg, g.timeout(r))
	if err != nil {
		status, code, message := http.StatusServiceUnavailable, "unavailable", "the service did not answer: "+err.Error()
		if errors.Is(err, nats.ErrNoResponders) {
			// DESIGN §2: a command or query that the running services do
			// not offer is not found (not retryable), not unavailable.
			status, code, message = http.StatusNotFound, "not_found", "no service offers "+subject
		}
		if ctx.Err() != nil {
			return
		}
		writeError(w, status, code, message)
		g.opts.Logger.Warn("gateway request failed", "subject", subject, "error", err)
		return
	}
	status := http.StatusOK
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n < 400 || n > 599 {
			n = http.StatusBadGateway
		}
		status = n
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(reply.Data)
	g.opts.Logger.Debug("gateway", "subject", subject, "status", status, "duration", time.Since(start))
}

// timeout is the request's deadline, from the HTTP request's context when it
// has one that is shorter.
func (g *Gateway) timeout(r *http.Request) time.Duration {
	if dl, ok := r.Context().Deadline(); ok {
		if d := time.Until(dl); d < g.opts.Timeout {
			return d
		}
	}
	return g.opts.Timeout
}

// writeError writes the contract's error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
