package service

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/writer"
)

// Domain is what a domain hands the platform: its aggregates (the command
// side), its projections (read models), its queries and its process
// managers. A domain lives in a package of its own, in this module (the
// samples under domain/) or in a user's.
type Domain struct {
	Aggregates  []Aggregate
	Projections []projections.Projection
	Queries     []reader.Query
	// Processes run in the projector beside the projections (unless
	// projector.processes is false) or in a binary of their own
	// (Platform.Processes), one active instance each.
	Processes []Process
}

// Process is a process manager of a domain (package process): its name and
// how to build it on the deployment's event store with its settings.
type Process struct {
	// Name is the process's name (process.Process.Name): its consumers are
	// named after it (process.ConsumerName).
	Name string
	// New builds the process; it may read its settings from cfg (the
	// process section) and log to log.
	New func(store *streams.Store, cfg config.Config, log *slog.Logger) (process.Process, error)
}

// Aggregate is an aggregate type to register with the writer, its state
// type erased (see AggregateOf).
type Aggregate struct {
	typ      string
	register func(w *writer.Writer, snapshotEvery int) error
	admin    admin.Aggregate
}

// AggregateOf makes an aggregate definition registrable. The writer's
// writer.snapshot_every setting applies to it unless the definition sets its
// own SnapshotEvery.
func AggregateOf[S any](def aggregate.Definition[S]) Aggregate {
	return Aggregate{typ: def.Type, register: func(w *writer.Writer, every int) error {
		if def.SnapshotEvery == 0 {
			def.SnapshotEvery = every
		}
		return writer.Register(w, def)
	}, admin: admin.AggregateOf(def)}
}

// Platform is a deployment's set of domains, run as any of the services.
type Platform struct {
	domains []Domain
}

// New returns the platform of domains.
func New(domains ...Domain) *Platform { return &Platform{domains: domains} }

// Validate reports an aggregate type, projection, query or process manager
// that two domains both register.
func (p *Platform) Validate() error {
	var types, names, subjects, procs []string
	for _, d := range p.domains {
		for _, pr := range d.Processes {
			if pr.New == nil {
				return fmt.Errorf("service: process %s has no New", pr.Name)
			}
			if slices.Contains(procs, pr.Name) {
				return fmt.Errorf("service: process %s registered twice", pr.Name)
			}
			procs = append(procs, pr.Name)
		}
		for _, a := range d.Aggregates {
			if slices.Contains(types, a.typ) {
				return fmt.Errorf("service: aggregate type %s registered twice", a.typ)
			}
			types = append(types, a.typ)
		}
		for _, pr := range d.Projections {
			if slices.Contains(names, pr.Name) {
				return fmt.Errorf("service: projection %s registered twice", pr.Name)
			}
			names = append(names, pr.Name)
		}
		for _, q := range d.Queries {
			if slices.Contains(subjects, q.Subject()) {
				return fmt.Errorf("service: query %s registered twice", q.Subject())
			}
			subjects = append(subjects, q.Subject())
		}
	}
	return nil
}

func (p *Platform) aggregates() []Aggregate {
	var out []Aggregate
	for _, d := range p.domains {
		out = append(out, d.Aggregates...)
	}
	return out
}

func (p *Platform) projections() []projections.Projection {
	var out []projections.Projection
	for _, d := range p.domains {
		out = append(out, d.Projections...)
	}
	return out
}

func (p *Platform) processes() []Process {
	var out []Process
	for _, d := range p.domains {
		out = append(out, d.Processes...)
	}
	return out
}

// ProcessNames names the platform's process managers, in registration order
// (each has the consumers process.ConsumerName names).
func (p *Platform) ProcessNames() []string {
	var out []string
	for _, pr := range p.processes() {
		out = append(out, pr.Name)
	}
	return out
}

func (p *Platform) queries() []reader.Query {
	var out []reader.Query
	for _, d := range p.domains {
		out = append(out, d.Queries...)
	}
	return out
}

// Aggregates is the state loader of each of the platform's aggregate types,
// for operators' tools (package admin).
func (p *Platform) Aggregates() admin.Aggregates {
	out := admin.Aggregates{}
	for _, a := range p.aggregates() {
		out[a.typ] = a.admin
	}
	return out
}

// ProjectionNames names the platform's projections, in registration order.
func (p *Platform) ProjectionNames() []string {
	var out []string
	for _, pr := range p.projections() {
		out = append(out, pr.Name)
	}
	return out
}

// Admin is the operator's client of a deployment of the platform: its
// aggregates, projections and rebuild subject, on the connections given
// (rdb may be nil: projections and rebuilds then fail with admin.ErrNoRedis).
func (p *Platform) Admin(cfg config.Config, nc *nats.Conn, store *streams.Store, rdb redis.UniversalClient) *admin.Client {
	// A projection spanning streams stops the projector at start; here it
	// follows the first stream.
	streamOf, _ := p.ProjectionStreams(cfg)
	return &admin.Client{
		ProjectionStreams: streamOf,
		NATS:              nc, Store: store, Redis: rdb,
		Aggregates: p.Aggregates(), ProjectionNames: p.ProjectionNames(),
		Deployment:     cfg.Deployment.Name,
		RebuildSubject: RebuildSubjectOf(cfg.Deployment.Name),
		// As long as a writer may take to answer a command (its queue wait
		// and two requests to the store): past it, the writer answers 503
		// itself, so an operator's command never times out while it may
		// still be appended.
		Timeout: cfg.Writer.MaxQueueWait + 2*cfg.NATS.RequestTimeout,
	}
}

// Writer is the whole run of a writer process: serve the platform's
// commands until ctx is done (a run function for Main).
func (p *Platform) Writer(ctx context.Context, d Deps) error {
	return p.RunWriter(ctx, d.Config, d.NATS, d.Health, d.Log)
}

// Projector is the whole run of a projector process.
func (p *Platform) Projector(ctx context.Context, d Deps) error {
	return p.RunProjector(ctx, d.Config, d.NATS, d.Redis, d.Health, d.Log)
}

// Processes is the whole run of a process of the process managers alone
// (a projector with projector.processes false leaves them to it).
func (p *Platform) Processes(ctx context.Context, d Deps) error {
	return p.RunProcesses(ctx, d.Config, d.NATS, d.Health, d.Log)
}

// Reader is the whole run of a reader process.
func (p *Platform) Reader(ctx context.Context, d Deps) error {
	return p.RunReader(ctx, d.Config, d.NATS, d.Redis, d.Health, d.Log)
}

// Gateway is the whole run of a gateway process.
func (p *Platform) Gateway(ctx context.Context, d Deps) error {
	return p.RunGateway(ctx, d.Config, d.NATS, d.Health, d.Log, nil)
}
