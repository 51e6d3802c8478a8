package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds the graceful stop of Serve's HTTP server.
const ShutdownTimeout = 5 * time.Second

// Serve listens on addr and serves the gateway until ctx is done, then
// shuts down gracefully. The server reads with the gateway's timeouts
// (WithReadHeaderTimeout, WithReadTimeout, WithIdleTimeout) and speaks TLS
// when given a certificate (WithTLS). ready, when not nil, receives the
// bound address (useful with port 0).
func (g *Gateway) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready(l.Addr())
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		ReadTimeout:       g.opts.ReadTimeout,
		IdleTimeout:       g.opts.IdleTimeout,
		TLSConfig:         g.tls,
		// net/http's own complaints (a TLS handshake from a plain-HTTP
		// client, an accept error) go to the gateway's log.
		ErrorLog: slog.NewLogLogger(g.opts.Logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		if g.tls != nil {
			done <- srv.ServeTLS(l, "", "") // the certificate is in TLSConfig
			return
		}
		done <- srv.Serve(l)
	}()
	g.opts.Logger.Info("gateway listening", "addr", l.Addr().String(), "tls", g.tls != nil, "auth", g.auth != nil)
	if tcp, ok := l.Addr().(*net.TCPAddr); ok && g.auth == nil && !tcp.IP.IsLoopback() {
		g.opts.Logger.Warn("the gateway asks for no token and listens beyond loopback: anyone who reaches it may send any command; configure gateway.tokens_file or a JWT key",
			"addr", l.Addr().String())
	}
	select {
	case err := <-done:
		return fmt.Errorf("gateway: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	g.stop() // streams end now: a graceful shutdown waits for every request
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
