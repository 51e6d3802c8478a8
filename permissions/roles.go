package permissions

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/writer"
)

// Role is what a NATS user of jetsource is for.
type Role string

// The roles.
const (
	// Writer serves commands and is the only role that appends events.
	Writer Role = "writer"
	// Projector keeps the read models, serves rebuilds, publishes the live
	// queries' notices and may run the process managers.
	Projector Role = "projector"
	// Reader serves queries and live queries.
	Reader Role = "reader"
	// Gateway is the HTTP gateway: a client of commands, queries and live
	// queries.
	Gateway Role = "gateway"
	// Manager runs the process managers (package process): it follows the
	// events, keeps timers and sends commands.
	Manager Role = "manager"
	// Admin may do anything but read the commands of cmd.user.>.
	Admin Role = "admin"
	// Client may send commands and queries and receive its own replies.
	Client Role = "client"
)

// Services are the roles of jetsource's own processes, one user each.
var Services = []Role{Writer, Projector, Reader, Gateway, Manager}

// Roles are every role.
var Roles = []Role{Writer, Projector, Reader, Gateway, Manager, Admin, Client}

// ErrUnknownRole means a role that is not one of Roles.
var ErrUnknownRole = errors.New("unknown role")

// ErrBadUser means a user name that cannot be a NATS user and subject token.
var ErrBadUser = errors.New("bad user name")

// userName is a user name that is also one subject token, so that its inbox
// prefix _INBOX.<user> is a literal subject.
var userName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Deployment holds the names the permissions depend on: the deployment's
// name, its stream and snapshot bucket, its projections and its process
// managers (each has its own consumers).
type Deployment struct {
	// Name is deployment.name; empty for the one deployment of an account.
	Name string
	// Stream is store.stream.
	Stream string
	// Streams are the streams of store.streams, in a deployment of several
	// (empty: the one stream Stream).
	Streams []string
	// SnapshotBucket is store.snapshot_bucket.
	SnapshotBucket string
	// Projections are the names of the projections the projectors run.
	Projections []string
	// Partitions is the partition count of each partitioned projection
	// (projector.partitions): each partition has consumers of its own.
	Partitions map[string]int
	// Processes are the names of the process managers (process.Process.Name)
	// the managers and the projectors run: each has its own consumers and
	// timers.
	Processes []string
	// TimerStream is the process managers' stream of timers (empty:
	// process.DefaultTimerStream).
	TimerStream string
	// Browser is gateway.browser: the gateway serves the event browser, so
	// it reads the event stream (events, states, live events) and asks the
	// projectors for the projections' status.
	Browser bool
}

// DeploymentOf returns the deployment of cfg running projections.
func DeploymentOf(cfg config.Config, projections []string) Deployment {
	partitions, _ := cfg.Projector.PartitionCounts() // validated with cfg
	d := Deployment{Name: cfg.Deployment.Name, Stream: cfg.Store.Stream,
		SnapshotBucket: cfg.Store.SnapshotBucket, Projections: projections, Partitions: partitions, Browser: cfg.Gateway.Browser}
	specs, _ := cfg.Store.Streams.Specs() // validated with the config
	for _, s := range specs {
		d.Streams = append(d.Streams, s.Name)
	}
	return d
}

// eventStreams are the deployment's event streams.
func (d Deployment) eventStreams() []string {
	if len(d.Streams) == 0 {
		return []string{d.Stream}
	}
	return d.Streams
}

// perStream joins the subjects f gives for each event stream.
func (d Deployment) perStream(f func(stream string) []string) []string {
	var out []string
	for _, s := range d.eventStreams() {
		out = append(out, f(s)...)
	}
	return out
}

// ServiceUser is the user name of a service role in this deployment: the
// role, followed by -<deployment> for a named deployment.
func (d Deployment) ServiceUser(r Role) string { return writer.Named(string(r), "-", d.Name) }

// InboxPrefix is the only prefix on which user may receive replies; give it
// to nats.CustomInboxPrefix (nats.inbox_prefix in a service's settings).
func InboxPrefix(user string) string { return "_INBOX." + user }

// Permissions are the subjects a user may publish and subscribe to; a
// publish to a subject of PublishDeny is refused, and a subscription to a
// subject of SubscribeDeny, or to a wildcard that covers it, receives none
// of its messages.
type Permissions struct {
	Publish       []string
	PublishDeny   []string
	Subscribe     []string
	SubscribeDeny []string
}

// Subjects of the contract every role's permissions name.
const (
	events   = "events.>"
	commands = "cmd.>"
	queries  = "query.>"
	// passwords are the commands that carry a plain password.
	passwords = "cmd.user.>"
	// inboxes are every user's replies: the services answer there.
	inboxes = "_INBOX.>"
	// services is the micro discovery of $SRV.PING, $SRV.INFO, $SRV.STATS.
	services = "$SRV.>"
	jsAPI    = "$JS.API."
	// rebuilds are the rebuild subjects of the unnamed and named
	// deployments (service.RebuildSubjectOf).
	rebuilds      = "jetsource.projector.rebuild.>"
	namedRebuilds = "jetsource.*.projector.rebuild.>"
)

// liveRequests are the subscribe requests of every live query,
// live.<model>.<name>.
var liveRequests = live.RequestSubject("*", "*")

// For returns the permissions of user in role. user names the inbox prefix
// the user receives replies on; for a service role it is ServiceUser.
func (d Deployment) For(r Role, user string) (Permissions, error) {
	if !userName.MatchString(user) {
		return Permissions{}, fmt.Errorf("permissions: %w %q: 1 to 64 letters, digits, '-' or '_'", ErrBadUser, user)
	}
	inbox := InboxPrefix(user) + ".>"
	switch r {
	case Writer:
		pub := []string{events, inboxes}
		pub = append(pub, d.streamAPI("STREAM.CREATE", "STREAM.INFO", "STREAM.UPDATE", "STREAM.MSG.GET")...)
		pub = append(pub, d.spreadLeaders()...)
		pub = append(pub, d.perStream(d.directGet)...)
		pub = append(pub, d.perStream(d.readConsumer)...)
		for _, b := range []string{d.SnapshotBucket, writer.Named(writer.CommandsBucket, "_", d.Name), writer.Named(writer.UniqueBucket, "_", d.Name), streams.DefaultKeyBucket} {
			pub = append(pub, d.bucket(b)...)
		}
		return Permissions{Publish: pub, Subscribe: []string{commands, services, inbox}}, nil
	case Projector:
		pub := []string{inboxes}
		// The projector provisions the store too (a first start before any
		// writer): the stream and the snapshot bucket, never their data.
		pub = append(pub, d.streamAPI("STREAM.CREATE", "STREAM.INFO", "STREAM.UPDATE")...)
		pub = append(pub, d.spreadLeaders()...)
		pub = append(pub, d.bucketAPI(d.SnapshotBucket)...)
		// The keys that seal personal data: read to open events, purged to
		// complete a forget whose deletion failed on the writer.
		pub = append(pub, d.bucket(streams.DefaultKeyBucket)...)
		// A batched direct get of an aggregate's later events: the runner
		// looks for the correction of an event that breaks its history.
		pub = append(pub, d.perStream(func(s string) []string { return []string{jsAPI + "DIRECT.GET." + s} })...)
		for _, p := range d.Projections {
			for _, kind := range []string{projections.KindLive, projections.KindRebuild} {
				for _, name := range d.consumerNames(kind, p) {
					pub = append(pub, d.consumer(name)...)
				}
			}
		}
		// A notice per committed batch, for the live queries.
		pub = append(pub, live.NoticeSubject(d.Name, "*"))
		// The process managers may run beside the projections.
		pub = unique(append(pub, d.manager()...))
		sub := []string{service.RebuildSubjectOf(d.Name) + ".*", service.StatusSubjectOf(d.Name), services, inbox}
		return Permissions{Publish: pub, Subscribe: sub}, nil
	case Reader:
		pub := append([]string{inboxes}, d.streamAPI("STREAM.INFO")...)
		// Readiness: how many events each projection has still to apply,
		// from the info of its live consumer (service.ProjectionLag).
		for _, p := range d.Projections {
			for _, name := range d.consumerNames(projections.KindLive, p) {
				pub = append(pub, d.perStream(func(s string) []string {
					return []string{jsAPI + "CONSUMER.INFO." + s + "." + name}
				})...)
			}
		}
		pub = append(pub, d.liveServer()...)
		sub := []string{queries, liveRequests, live.NoticeSubject(d.Name, "*"), services, inbox}
		return Permissions{Publish: pub, Subscribe: sub}, nil
	case Gateway:
		if d.Browser {
			return d.browser(inbox), nil
		}
		return Permissions{Publish: append([]string{commands, queries}, d.liveSubscriber()...), Subscribe: []string{inbox}}, nil
	case Client:
		return Permissions{Publish: append([]string{commands, queries}, d.liveSubscriber()...), Subscribe: []string{inbox}}, nil
	case Manager:
		return Permissions{Publish: d.manager(), Subscribe: []string{inbox}}, nil
	case Admin:
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}, SubscribeDeny: []string{passwords}}, nil
	}
	return Permissions{}, fmt.Errorf("permissions: %w %q: one of %v", ErrUnknownRole, r, Roles)
}

// browser is the gateway's with the event browser: commands and queries;
// the event stream's info and direct reads (history, state at a version),
// provisioning it and reading the buckets a load reads (snapshots, the keys
// of personal data), never writing them; ordered consumers of the stream
// (live events), but none of the projectors'; the projectors' status; and
// the live queries.
func (d Deployment) browser(inbox string) Permissions {
	pub := []string{commands, queries, service.StatusSubjectOf(d.Name)}
	pub = append(pub, d.storeReads()...)
	pub = append(pub, d.liveSubscriber()...)
	// The consumer's name is a generated token: no prefix can be allowed,
	// so every name is, less the projectors' consumers.
	for _, op := range []string{"CONSUMER.CREATE", "CONSUMER.INFO", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT"} {
		pub = append(pub, d.perStream(func(s string) []string { return []string{jsAPI + op + "." + s + ".>"} })...)
	}
	var deny []string
	for _, p := range d.Projections {
		for _, kind := range []string{projections.KindLive, projections.KindRebuild} {
			for _, name := range d.consumerNames(kind, p) {
				for _, s := range d.consumer(name) {
					if !strings.HasPrefix(s, jsAPI+"CONSUMER.INFO.") && !strings.HasPrefix(s, "$JS.ACK.") {
						deny = append(deny, s)
					}
				}
			}
		}
	}
	return Permissions{Publish: pub, PublishDeny: deny, Subscribe: []string{inbox}}
}

// storeReads is what opening the event store and loading aggregates asks:
// provision the event streams and the buckets a load reads (snapshots, the
// keys of personal data), never writing them, and direct reads of them.
func (d Deployment) storeReads() []string {
	pub := d.streamAPI("STREAM.CREATE", "STREAM.INFO", "STREAM.UPDATE")
	pub = append(pub, d.spreadLeaders()...)
	pub = append(pub, d.perStream(d.directGet)...)
	for _, b := range []string{d.SnapshotBucket, streams.DefaultKeyBucket} {
		pub = append(pub, d.bucketAPI(b)...)
		pub = append(pub, d.directGet("KV_"+b)...)
	}
	return pub
}

// liveServer is what a live query server publishes (package live): the
// answers of its deployment, live.answer[_<deployment>].<model>.<name>.<instance>
// (appended with an expected last subject sequence, the acknowledgement
// coming to its inbox), and the answers' stream LIVE[_<deployment>]:
// provision it and read an instance's last answer by a direct get.
func (d Deployment) liveServer() []string {
	stream := live.StreamName(d.Name)
	pub := []string{live.AnswerSubject(d.Name, "*", "*", "*")}
	for _, op := range []string{"STREAM.CREATE", "STREAM.UPDATE"} {
		pub = append(pub, jsAPI+op+"."+stream)
	}
	return append(pub, d.directGet(stream)...)
}

// liveSubscriber is what a live query's subscriber publishes (live.Subscribe
// and the gateway's Server-Sent Events): the subscribe requests, and an
// ordered consumer of the answers' stream filtered on its instance (create,
// pull, and delete when it resets). The consumer's name is generated, so
// any name on that stream is allowed: the stream holds answers alone, which
// any subscriber may read.
func (d Deployment) liveSubscriber() []string {
	stream := live.StreamName(d.Name)
	pub := []string{liveRequests}
	for _, op := range []string{"CONSUMER.CREATE", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT"} {
		pub = append(pub, jsAPI+op+"."+stream+".>")
	}
	return pub
}

// manager is what a process manager publishes (package process) for each
// of d.Processes: commands (cmd.>, answered on its inbox); the store's
// opening and loads (storeReads and the ephemeral consumers of long
// loads); its consumer of the events, jetsource_[<deployment>_]pm_<process>
// (create, info, delete, pull, acknowledge); the timer stream (provision,
// info, delete a handled fired timer), the schedules of its own timers
// (timers.<process>.at.>, never a fired timer) and its timer consumer,
// jetsource_[<deployment>_]pm_<process>_timers.
func (d Deployment) manager() []string {
	pub := append([]string{commands}, d.storeReads()...)
	pub = append(pub, d.perStream(d.readConsumer)...)
	timers := d.TimerStream
	if timers == "" {
		timers = process.DefaultTimerStream
	}
	for _, op := range []string{"STREAM.CREATE", "STREAM.INFO", "STREAM.UPDATE", "STREAM.MSG.DELETE"} {
		pub = append(pub, jsAPI+op+"."+timers)
	}
	for _, p := range d.Processes {
		pub = append(pub, d.consumer(process.ConsumerName(d.Name, p, false))...)
		pub = append(pub, process.ScheduleSubjects(p))
		pub = append(pub, consumerOf(timers, process.ConsumerName(d.Name, p, true))...)
	}
	return pub
}

// unique drops the repeats of subjects, keeping the first of each.
func unique(subjects []string) []string {
	seen := make(map[string]bool, len(subjects))
	out := subjects[:0:0]
	for _, s := range subjects {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("permissions: %w %q: one of %v", ErrUnknownRole, s, Roles)
}

// spreadLeaders is what opening a store of several streams may ask: move a
// stream's leader to another node (none with one stream).
func (d Deployment) spreadLeaders() []string {
	if len(d.Streams) == 0 {
		return nil
	}
	return d.streamAPI("STREAM.LEADER.STEPDOWN")
}

// streamAPI is the JetStream API of the event streams for each operation.
func (d Deployment) streamAPI(ops ...string) []string {
	var out []string
	for _, op := range ops {
		for _, s := range d.eventStreams() {
			out = append(out, jsAPI+op+"."+s)
		}
	}
	return out
}

// directGet is a direct get of stream: batched (the stream's subject) and
// by last subject ($JS.API.DIRECT.GET.<stream>.<subject>).
func (d Deployment) directGet(stream string) []string {
	return []string{jsAPI + "DIRECT.GET." + stream, jsAPI + "DIRECT.GET." + stream + ".>"}
}

// readConsumer is what a long load does (streams.Store.Read): create an
// ephemeral consumer that the server names (the subject without a name, so
// no named consumer can be created or changed through it) and answer its
// flow control (v1 and v2 reply forms). It never deletes one: the server
// removes it once nobody listens.
func (d Deployment) readConsumer(stream string) []string {
	return []string{jsAPI + "CONSUMER.CREATE." + stream, "$JS.FC." + stream + ".>", "$JS.FC.*.*." + stream + ".>"}
}

// bucketAPI provisions a key-value bucket: create, info, update (replicas),
// and the account's JetStream info (nats.go reads the account's limits
// before it creates a bucket).
func (d Deployment) bucketAPI(bucket string) []string {
	s := "KV_" + bucket
	return []string{jsAPI + "INFO", jsAPI + "STREAM.CREATE." + s, jsAPI + "STREAM.INFO." + s, jsAPI + "STREAM.UPDATE." + s}
}

// bucket provisions, reads and writes a key-value bucket.
func (d Deployment) bucket(bucket string) []string {
	out := append(d.bucketAPI(bucket), "$KV."+bucket+".>")
	return append(out, d.directGet("KV_"+bucket)...)
}

// consumer is what a projector (or a process manager) does with one of its
// consumers of the event streams: consumerOf on each.
func (d Deployment) consumer(name string) []string {
	return d.perStream(func(stream string) []string { return consumerOf(stream, name) })
}

// consumerOf is what its owner does with the consumer name of stream:
// create it (with or without a filter in the subject), read its info,
// delete it, pull from it and acknowledge.
func consumerOf(stream, name string) []string {
	c := stream + "." + name
	return []string{
		jsAPI + "CONSUMER.CREATE." + c, jsAPI + "CONSUMER.CREATE." + c + ".>",
		jsAPI + "CONSUMER.INFO." + c, jsAPI + "CONSUMER.DELETE." + c,
		jsAPI + "CONSUMER.MSG.NEXT." + c, "$JS.ACK." + c + ".>",
	}
}

// consumerNames are the projections runner's consumers of one kind (proj,
// rebuild) for a projection: jetsource_[<deployment>_]<kind>_<projection>,
// of a partitioned one one per partition, …-<p>.
func (d Deployment) consumerNames(kind, projection string) []string {
	n := max(d.Partitions[projection], 1)
	out := make([]string, n)
	for p := range out {
		out[p] = projections.PartitionConsumerName(d.Name, kind, projection, p, n)
	}
	return out
}
