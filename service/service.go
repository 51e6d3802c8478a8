// Package service is jetsource's composition root: a Platform holds the
// domains of a deployment (aggregates, projections, queries, process
// managers, each domain from its own package or module) and runs the
// writer, the projector (with the process managers beside the projections,
// unless projector.processes is false), the reader and the gateway with
// them, from their settings, so that the separate binaries and the
// single-process mode start them the same way.
//
//	p := service.New(service.Domain{
//		Aggregates:  []service.Aggregate{service.AggregateOf(counter.Definition())},
//		Projections: []projections.Projection{counter.Projection()},
//		Queries:     counter.Queries(),
//	})
//	service.Main("writer", service.Needs{Writer: true}, p.Writer)
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/writer"
)

// OpenStore opens the event store with the configured settings. While the
// store is unavailable (a cluster still electing the new stream's leader,
// a JetStream that is not up yet) it tries again, logging once, until ctx
// is done: a service started beside a fresh cluster waits for it instead of
// exiting. Any other error (a contradicting stream, a refused layout, a
// server too old) is returned at once.
func OpenStore(ctx context.Context, cfg config.Config, nc *nats.Conn, log *slog.Logger) (*streams.Store, error) {
	wait := 100 * time.Millisecond
	for logged := false; ; logged = true {
		store, err := OpenStoreOnce(ctx, cfg, nc, log)
		if err == nil || !errors.Is(err, streams.ErrUnavailable) || ctx.Err() != nil {
			return store, err
		}
		if !logged {
			log.Warn("event store not available yet; trying again", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// OpenStoreOnce opens the event store once, for a tool that should fail at
// once rather than wait (the operator's CLI).
func OpenStoreOnce(ctx context.Context, cfg config.Config, nc *nats.Conn, log *slog.Logger) (*streams.Store, error) {
	layout, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	return streams.Open(ctx, nc,
		streams.WithStream(cfg.Store.Stream),
		streams.WithLayout(layout),
		streams.WithSnapshotBucket(cfg.Store.SnapshotBucket),
		streams.WithReplicas(cfg.Store.Replicas),
		streams.WithDuplicateWindow(cfg.Store.DuplicateWindow),
		streams.WithMaxBatch(cfg.Store.MaxBatch),
		streams.WithTimeout(cfg.NATS.RequestTimeout),
		streams.WithLogger(log))
}

// NewWriter builds a writer with the platform's aggregates registered.
func (p *Platform) NewWriter(ctx context.Context, cfg config.Config, nc *nats.Conn, store *streams.Store, health *ops.Server, log *slog.Logger) (*writer.Writer, error) {
	opts := []writer.Option{
		writer.WithQueueGroup(writerQueueGroup(cfg)),
		writer.WithDeployment(cfg.Deployment.Name),
		writer.WithWorkers(cfg.Writer.Workers),
		writer.WithMaxRetries(cfg.Writer.MaxRetries),
		writer.WithMaxQueueWait(cfg.Writer.MaxQueueWait),
		writer.WithStaleReservation(cfg.Writer.StaleReservation),
		writer.WithTimeout(cfg.NATS.RequestTimeout),
		writer.WithLogger(log),
	}
	if health != nil {
		opts = append(opts, writer.WithMetrics(health.Registry))
	}
	w, err := writer.New(nc, store, opts...)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range p.aggregates() {
		errs = append(errs, a.register(w, cfg.Writer.SnapshotEvery))
	}
	return w, errors.Join(errs...)
}

// RunWriter provisions the store and serves commands until ctx is done; with
// cfg.HTTP.Listen set it serves health and metrics beside.
func (p *Platform) RunWriter(ctx context.Context, cfg config.Config, nc *nats.Conn, health *ops.Server, log *slog.Logger) error {
	store, err := OpenStore(ctx, cfg, nc, log)
	if err != nil {
		return err
	}
	w, err := p.NewWriter(ctx, cfg, nc, store, health, log)
	if err != nil {
		return err
	}
	health.AddCheck("nats", NATSCheck(nc))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Serve(ctx) })
	ServeOps(ctx, g, cfg, health)
	return g.Wait()
}

// ServeOps serves /healthz, /readyz and /metrics on cfg.HTTP.Listen, if set.
func ServeOps(ctx context.Context, g *errgroup.Group, cfg config.Config, health *ops.Server) {
	if cfg.HTTP.Listen == "" {
		return
	}
	g.Go(func() error { return health.Serve(ctx, cfg.HTTP.Listen, func(net.Addr) {}) })
}

// NATSCheck is ready while the connection is connected.
func NATSCheck(nc *nats.Conn) ops.Check {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: %s", nc.Status())
		}
		return nil
	}
}

// OpenRedis connects to Redis with the configured settings: a cluster
// client (*redis.ClusterClient) when redis.cluster is set, else a client of
// the one server (*redis.Client).
func OpenRedis(cfg config.Config) (redis.UniversalClient, error) {
	if cfg.Redis.Cluster {
		opts, err := cfg.Redis.ClusterOptions()
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := cfg.Redis.Options()
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// RedisCheck is ready while Redis answers PING: every master of a Redis
// Cluster.
func RedisCheck(rdb redis.UniversalClient) ops.Check {
	return func(ctx context.Context) error { return pingRedis(ctx, rdb) }
}

// pingRedis pings the one server, or every master of a cluster (a PING of
// a cluster client reaches one node only).
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			if err := m.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis cluster master %s: %w", m.Options().Addr, err)
			}
			return nil
		})
	}
	return rdb.Ping(ctx).Err()
}

// NewRunner builds the projection runner of the platform's projections on
// the event store (its stream and the keys of its personal data).
func (p *Platform) NewRunner(cfg config.Config, store *streams.Store, rdb redis.UniversalClient, health *ops.Server, log *slog.Logger) (*projections.Runner, error) {
	retries := cfg.Projector.MaxRetries
	if retries == 0 {
		// In the settings 0 means none; for the runner it means the default.
		retries = projections.NoRetries
	}
	opts := []projections.Option{
		projections.WithDeployment(cfg.Deployment.Name),
		projections.WithStream(cfg.Store.Stream),
		projections.WithLayout(store.Layout()),
		projections.WithBatchSize(cfg.Projector.BatchSize),
		projections.WithMaxRetries(retries),
		projections.WithRetryBackoff(cfg.Projector.RetryBackoff),
		projections.WithLeaseTTL(cfg.Projector.LeaseTTL),
		projections.WithFetchWait(cfg.Projector.FetchWait),
		projections.WithPersonalData(store),
		projections.WithLogger(log),
	}
	if cfg.Reader.Live {
		// One notice per committed batch, for live queries (package live).
		opts = append(opts, projections.WithCommitted(live.Notify(store.JetStream().Conn(), cfg.Deployment.Name)))
	}
	if health != nil {
		opts = append(opts, projections.WithMetrics(health.Registry))
	}
	ps, err := partitioned(p.projections(), cfg.Projector)
	if err != nil {
		return nil, err
	}
	return projections.NewRunner(store.JetStream(), rdb, ps, opts...)
}

// partitioned sets the partition count of each projection that
// projector.partitions names; naming a projection the platform does not
// run is an error.
func partitioned(ps []projections.Projection, cfg config.Projector) ([]projections.Projection, error) {
	counts, err := cfg.PartitionCounts()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(ps)
	for i := range out {
		if n, ok := counts[out[i].Name]; ok {
			out[i].Partitions = n
			delete(counts, out[i].Name)
		}
	}
	for name := range counts {
		names := make([]string, len(out))
		for i, p := range out {
			names[i] = p.Name
		}
		return nil, fmt.Errorf("projector.partitions names %s, which is no projection of the platform (%s)", name, strings.Join(names, ", "))
	}
	return out, nil
}

// RunProjector runs the platform's projections until ctx is done, and its
// process managers beside them unless projector.processes is false; it serves
// jetsource.projector.rebuild.<name> to rebuild one on demand, and the
// projections' status on jetsource.projector.status (the event browser's).
func (p *Platform) RunProjector(ctx context.Context, cfg config.Config, nc *nats.Conn, rdb redis.UniversalClient, health *ops.Server, log *slog.Logger) error {
	// Provisioning the store (idempotent) means a projector that starts
	// before any writer finds the stream there, instead of retrying on
	// "stream not found".
	store, err := OpenStore(ctx, cfg, nc, log)
	if err != nil {
		return err
	}
	r, err := p.NewRunner(cfg, store, rdb, health, log)
	if err != nil {
		return err
	}
	var ms []*process.Manager
	if cfg.Projector.Processes {
		if ms, err = p.NewManagers(cfg, nc, store, log); err != nil {
			return err
		}
	}
	health.AddCheck("nats", NATSCheck(nc))
	health.AddCheck("redis", RedisCheck(rdb))
	health.AddCheck("rebuild", RebuildCheck(r))
	g, ctx := errgroup.WithContext(ctx)
	rebuilds, err := ServeProjector(ctx, nc, r, p.Admin(cfg, nc, store, rdb).Projections, cfg.Deployment.Name, log)
	if err != nil {
		return err
	}
	g.Go(rebuilds)
	g.Go(func() error { return r.Run(ctx) })
	if len(ms) > 0 {
		goManagers(ctx, g, ms, log)
		log.Info("process managers running beside the projections", "processes", p.ProcessNames(), "pinned_ttl", cfg.Process.PinnedTTL)
	}
	ServeOps(ctx, g, cfg, health)
	return g.Wait()
}

// RunReader serves queries until ctx is done.
func (p *Platform) RunReader(ctx context.Context, cfg config.Config, nc *nats.Conn, rdb redis.UniversalClient, health *ops.Server, log *slog.Logger) error {
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.NATS.RequestTimeout))
	if err != nil {
		return err
	}
	last := reader.LastSequenceOf(js, cfg.Store.Stream)
	streamOf, err := p.ProjectionStreams(cfg)
	if err != nil {
		return err
	}
	var multi []reader.Option
	if streamOf != nil {
		multi = append(multi, reader.WithStreams(streamOf, LastSequenceIn(js)))
	}
	rd := reader.New(nc, rdb, append(multi,
		reader.WithDeployment(cfg.Deployment.Name),
		reader.WithDefaultWait(cfg.Reader.DefaultWait),
		reader.WithMaxWait(cfg.Reader.MaxWait),
		reader.WithReadTimeout(cfg.NATS.RequestTimeout),
		reader.WithMaxWaits(cfg.Reader.MaxWaits),
		reader.WithPollInterval(cfg.Reader.PollInterval),
		reader.WithLastSequence(last),
		reader.WithLogger(log),
		reader.WithMetrics(health.Registry))...)
	health.AddCheck("nats", NATSCheck(nc))
	health.AddCheck("redis", RedisCheck(rdb))
	if err := rd.Register(p.queries()...); err != nil {
		return err
	}
	lag := ProjectionLag(js, cfg.Store.Stream, cfg.Deployment.Name, rdb, last)
	if streamOf != nil {
		lag = ProjectionLagIn(js, streamOf, cfg.Deployment.Name, rdb)
	}
	health.AddCheck("projections", LagCheck(lag, rd.Projections(), uint64(cfg.Reader.ReadyLag)))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rd.Serve(ctx) })
	// Live queries beside the queries (reader.live); a NATS user without
	// the rights to the answers' stream gets the queries alone.
	g.Go(func() error {
		if !cfg.Reader.Live {
			return nil
		}
		lv, err := live.NewServer(ctx, nc, rdb, p.queries(), live.WithDeployment(cfg.Deployment.Name),
			live.WithReplicas(cfg.Store.Replicas), live.WithLogger(log))
		if err != nil {
			log.Warn("live queries are off: cannot provision their stream", "error", err)
			return nil
		}
		return lv.Run(ctx)
	})
	ServeOps(ctx, g, cfg, health)
	return g.Wait()
}

// RunGateway serves the HTTP gateway on cfg.HTTP.GatewayListen until ctx is
// done, with /healthz and /readyz beside it, and /metrics for the admin
// scope when authentication is on; with gateway.browser set, the event
// browser too (gateway.WithBrowser). ready, when set, receives the bound
// address.
func (p *Platform) RunGateway(ctx context.Context, cfg config.Config, nc *nats.Conn, health *ops.Server, log *slog.Logger, ready func(net.Addr)) error {
	security, err := gatewaySecurity(cfg.Gateway)
	if err != nil {
		return err
	}
	if cfg.Gateway.Browser {
		store, err := OpenStore(ctx, cfg, nc, log)
		if err != nil {
			return err
		}
		security = append(security, gateway.WithBrowser(browser{
			admin: p.Admin(cfg, nc, store, nil), status: StatusSubjectOf(cfg.Deployment.Name)}))
	}
	// The gateway shares its listener with its health and metrics.
	srv := ops.New(log)
	srv.Registry = health.Registry
	srv.AddCheck("nats", NATSCheck(nc))
	probes := srv.Handler()
	gw, err := gateway.New(nc, append([]gateway.Option{
		gateway.WithMaxBodyBytes(cfg.HTTP.MaxBodyBytes),
		gateway.WithTimeout(cfg.NATS.RequestTimeout + cfg.Reader.MaxWait),
		gateway.WithLogger(log),
		gateway.WithQueries(p.queries()...),
		gateway.WithReadHeaderTimeout(cfg.Gateway.ReadHeaderTimeout),
		gateway.WithReadTimeout(cfg.Gateway.ReadTimeout),
		gateway.WithIdleTimeout(cfg.Gateway.IdleTimeout),
		gateway.WithMaxLongPolls(cfg.Gateway.MaxLongPolls),
		gateway.WithLive(live.NewHandler(nc, p.queries(), 0)),
		gateway.WithRoute("GET /healthz", "", probes),
		gateway.WithRoute("GET /readyz", "", probes),
		gateway.WithRoute("GET /metrics", gateway.ScopeAdmin, probes),
	}, security...)...)
	if err != nil {
		return err
	}
	health.AddCheck("nats", NATSCheck(nc))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gw.Serve(ctx, cfg.HTTP.GatewayListen, ready) })
	ServeOps(ctx, g, cfg, health)
	return g.Wait()
}

// gatewaySecurity reads the gateway's tokens, JWT keys and certificate from
// the files the settings name.
func gatewaySecurity(cfg config.Gateway) ([]gateway.Option, error) {
	var opts []gateway.Option
	if cfg.TokensFile != "" {
		tokens, err := gateway.LoadTokens(cfg.TokensFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gateway.WithTokens(tokens...))
	}
	if cfg.JWTSecretFile != "" || cfg.JWTPublicKeyFile != "" {
		jwt, err := gateway.LoadJWTKeys(cfg.JWTSecretFile, cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, err
		}
		jwt.Issuer, jwt.Audience, jwt.ScopeClaim = cfg.JWTIssuer, cfg.JWTAudience, cfg.JWTScopeClaim
		opts = append(opts, gateway.WithJWT(jwt))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, gateway.WithTLS(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// writerQueueGroup is the configured queue group; the default one carries
// the deployment's name, so that two deployments' writers never share
// commands.
func writerQueueGroup(cfg config.Config) string {
	if cfg.Writer.QueueGroup == config.Default().Writer.QueueGroup {
		return writer.Named(cfg.Writer.QueueGroup, "-", cfg.Deployment.Name)
	}
	return cfg.Writer.QueueGroup
}
