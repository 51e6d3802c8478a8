package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/ops"
)

// HealthcheckCommand is the first argument that makes a service binary check
// the process it would be, instead of starting one: `writer healthcheck`.
// The images have no curl or wget; Docker's HEALTHCHECK runs this.
const HealthcheckCommand = "healthcheck"

// healthcheckTimeout bounds the whole check: more than the checks behind
// /readyz take (ops.CheckTimeout), well under Docker's default 30s timeout.
const healthcheckTimeout = ops.CheckTimeout + 2*time.Second

// Healthcheck asks the process configured by args and getenv (the settings
// the service itself reads) whether it is ready: GET /readyz on its
// http.listen (JETSOURCE_HTTP_LISTEN), or for a gateway without one on its
// gateway listener, which serves /readyz too. /readyz rather than /healthz:
// the check gates the services that depend on this one (docker-compose's
// condition: service_healthy), and they need it ready, its NATS and Redis
// answering, not just alive; Docker never restarts an unhealthy container,
// so a process waiting for its dependencies is not killed for it. It
// returns nil on 200, else why not.
func Healthcheck(ctx context.Context, args []string, getenv func(string) string, needs Needs) error {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return err
	}
	url, err := readyURL(cfg, needs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthcheckBodyMax))
	return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
}

// healthcheckBodyMax bounds the part of a failed answer (which checks
// failed, and why) a healthcheck reports.
const healthcheckBodyMax = 4 << 10

// readyURL is the /readyz the process serves, on loopback when it listens
// on every interface.
func readyURL(cfg config.Config, needs Needs) (string, error) {
	addr := cfg.HTTP.Listen
	if addr == "" && needs.Gateway {
		if cfg.Gateway.TLSCert != "" {
			return "", errors.New("the gateway serves HTTPS, whose certificate does not name the loopback address: " +
				"set http.listen (JETSOURCE_HTTP_LISTEN) for the healthcheck")
		}
		addr = cfg.HTTP.GatewayListen
	}
	if addr == "" {
		return "", errors.New("no HTTP listener serves /readyz: set http.listen (JETSOURCE_HTTP_LISTEN)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
