package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/aggregate"
)

// StreamSpec is one event stream of a Layout: its name and the aggregate
// types whose events it stores (subjects events.<type>.> for each). A spec
// without types is the single stream of the default layout, capturing
// events.>.
type StreamSpec struct {
	Name  string
	Types []string
}

// Layout is how a deployment's events are spread over JetStream streams:
// by aggregate type, each type in exactly one stream, each stream its own
// Raft group with its own leader. The zero Layout is the default, one stream
// (Options.Stream, EVENTS) capturing events.>.
//
// A layout is by type (a bounded context per stream) and never a hash
// partition of the subject: subscribers keep seeing events.<type>.<id>, and
// an aggregate's optimistic concurrency, atomic batches and idempotency
// stay inside one stream.
type Layout []StreamSpec

// MultiStream reports whether the layout names its streams' types (a
// deployment of several streams): replies then carry positions
// "<stream>:<sequence>".
func (l Layout) MultiStream() bool { return len(l) > 0 && len(l[0].Types) > 0 }

// Streams lists the names of the layout's streams, in its order.
func (l Layout) Streams() []string {
	names := make([]string, len(l))
	for i, s := range l {
		names[i] = s.Name
	}
	return names
}

// String describes the layout as it is recorded in each stream's metadata:
// NAME(type,type) NAME(type), or NAME(events.>) for the single stream.
func (l Layout) String() string {
	parts := make([]string, len(l))
	for i, s := range l {
		if len(s.Types) == 0 {
			parts[i] = s.Name + "(" + SubjectPrefix + ".>)"
			continue
		}
		parts[i] = s.Name + "(" + strings.Join(s.Types, ",") + ")"
	}
	return strings.Join(parts, " ")
}

// subjects are the subjects of spec's stream.
func (s StreamSpec) subjects() []string {
	if len(s.Types) == 0 {
		return []string{SubjectPrefix + ".>"}
	}
	out := make([]string, len(s.Types))
	for i, t := range s.Types {
		out[i] = SubjectPrefix + "." + t + ".>"
	}
	return out
}

// maxLayoutStreamName bounds the name of a stream of a layout: it travels in
// every position.
const maxLayoutStreamName = 32

// validStreamName checks the name of a stream of a layout: a JetStream
// stream name (no space, control character, '.', '*', '>', '/' or '\'),
// without ':' (positions are <stream>:<sequence>), at most 32 bytes, not a
// key-value bucket's stream.
func validStreamName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > maxLayoutStreamName:
		return fmt.Errorf("is longer than %d bytes", maxLayoutStreamName)
	case strings.ContainsAny(name, ".*>/\\:") || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return errors.New(`must not contain spaces, '.', '*', '>', '/', '\\' or ':'`)
	case strings.HasPrefix(name, kvStreamPrefix):
		return fmt.Errorf("must not start with %s (the streams of key-value buckets)", kvStreamPrefix)
	}
	return nil
}

// Validate checks a layout: valid, distinct stream names; either one stream
// without types, or every stream with at least one valid type and every type
// in exactly one stream.
func (l Layout) Validate() error {
	if len(l) == 0 {
		return nil
	}
	var errs []error
	names := map[string]bool{}
	owner := map[string]string{}
	for i, s := range l {
		if err := validStreamName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("streams: layout stream %d: invalid stream name %q: %v", i+1, s.Name, err))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("streams: layout: stream %s is listed twice", s.Name))
		}
		names[s.Name] = true
		if len(s.Types) == 0 && len(l) > 1 {
			errs = append(errs, fmt.Errorf("streams: layout: stream %s lists no aggregate types (in a layout of several streams each lists its types)", s.Name))
		}
		for _, t := range s.Types {
			if err := aggregate.ValidateType(t); err != nil {
				errs = append(errs, fmt.Errorf("streams: layout: stream %s: aggregate type %q must match [a-z][a-z0-9_]{0,63}", s.Name, t))
				continue
			}
			if o, dup := owner[t]; dup {
				errs = append(errs, fmt.Errorf("streams: layout: aggregate type %s is in stream %s and in stream %s; each type is in exactly one stream", t, o, s.Name))
				continue
			}
			owner[t] = s.Name
		}
	}
	return errors.Join(errs...)
}

// layoutMetadata is the metadata key of each stream of a layout of several
// streams that records the whole layout (Layout.String).
const layoutMetadata = "jetsource_layout"

// ErrLayoutChanged means the event streams of an existing deployment are laid
// out otherwise than configured: opening it would re-route the events of
// existing aggregates, so it is refused.
var ErrLayoutChanged = errors.New("the layout of the event streams differs from the configured one")

// ErrUnroutedType means an aggregate type is in none of the layout's streams.
var ErrUnroutedType = errors.New("aggregate type in no event stream")

// StreamOf returns the stream that holds the events of aggregateType, or an
// error wrapping ErrUnroutedType naming the layout.
func (s *Store) StreamOf(aggregateType string) (string, error) {
	if !s.layout.MultiStream() {
		return s.layout[0].Name, nil
	}
	if name, ok := s.routes[aggregateType]; ok {
		return name, nil
	}
	return "", fmt.Errorf("streams: %w: %s is in none of the streams %s; add it to one (store.streams)", ErrUnroutedType, aggregateType, s.layout)
}

// StreamOfSubjects returns the one stream that holds every subject of a
// subscription filter (a projection's subjects, events.<type>.> or
// events.>); a filter spanning several streams is refused, naming them.
func (s *Store) StreamOfSubjects(subjects []string) (string, error) {
	return s.layout.StreamOfSubjects(subjects)
}

// StreamOfSubjects is Store.StreamOfSubjects on a layout.
func (l Layout) StreamOfSubjects(subjects []string) (string, error) {
	if !l.MultiStream() {
		return l[0].Name, nil
	}
	var found []string
	for _, subj := range subjects {
		tokens := strings.Split(subj, ".")
		if len(tokens) < 2 || tokens[0] != SubjectPrefix {
			return "", fmt.Errorf("streams: subject %q is not an event subject (events.<type>.…)", subj)
		}
		for _, spec := range l {
			if slices.ContainsFunc(spec.Types, func(t string) bool { return tokens[1] == "*" || tokens[1] == ">" || tokens[1] == t }) &&
				!slices.Contains(found, spec.Name) {
				found = append(found, spec.Name)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("streams: subjects %v lie in none of the streams %s", subjects, l)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("streams: subjects %v span the streams %s (layout %s); a projection reads one stream: split it, one per stream",
		subjects, strings.Join(found, ", "), l)
}

// StreamSubjects is a stream and the subjects of a filter that it holds.
type StreamSubjects struct {
	Stream   string
	Subjects []string
}

// SubjectsByStream groups the event subjects of a filter by the stream
// that holds them, in the layout's order: a process manager follows each
// group with a consumer on its stream. On the single stream it is that
// stream with the subjects as they are. On a layout of several streams a
// subject of one type goes to the stream of that type; a subject whose type
// token is a wildcard (events.>, events.*.…) spans every stream and goes to
// each as the subject of each of its types (events.<type>.…). A subject that
// is not an event subject, or of a type in no stream, is refused, naming it
// and the layout.
func (l Layout) SubjectsByStream(subjects []string) ([]StreamSubjects, error) {
	if !l.MultiStream() {
		return []StreamSubjects{{Stream: l[0].Name, Subjects: slices.Clone(subjects)}}, nil
	}
	groups := make([][]string, len(l))
	add := func(i int, subj string) {
		if !slices.Contains(groups[i], subj) {
			groups[i] = append(groups[i], subj)
		}
	}
	for _, subj := range subjects {
		tokens := strings.Split(subj, ".")
		if len(tokens) < 2 || tokens[0] != SubjectPrefix {
			return nil, fmt.Errorf("streams: subject %q is not an event subject (events.<type>.…)", subj)
		}
		wildcard := tokens[1] == "*" || tokens[1] == ">"
		found := false
		for i, spec := range l {
			for _, t := range spec.Types {
				switch {
				case tokens[1] == t:
					add(i, subj)
					found = true
				case wildcard:
					rest := tokens[2:]
					if tokens[1] == ">" {
						rest = []string{">"}
					}
					add(i, strings.Join(append([]string{SubjectPrefix, t}, rest...), "."))
					found = true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("streams: %w: subject %s is of aggregate type %s, in none of the streams %s; add the type to one (store.streams)",
				ErrUnroutedType, subj, tokens[1], l)
		}
	}
	var out []StreamSubjects
	for i, g := range groups {
		if len(g) > 0 {
			out = append(out, StreamSubjects{Stream: l[i].Name, Subjects: g})
		}
	}
	return out, nil
}

// Layout returns the store's layout (one stream without types by default).
func (s *Store) Layout() Layout { return slices.Clone(s.layout) }

// route is the stream of ref's events.
func (s *Store) route(ref Ref) (string, error) {
	name, err := s.StreamOf(ref.Type())
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	return name, nil
}

// effectiveLayout is the layout of o: Options.Layout, or the single stream
// Options.Stream.
func (o Options) effectiveLayout() Layout {
	if len(o.Layout) == 0 {
		return Layout{{Name: o.Stream}}
	}
	return o.Layout
}

// FormatPosition is the read-your-writes token of a deployment of several
// streams: "<stream>:<sequence>".
func FormatPosition(stream string, seq Sequence) string {
	return stream + ":" + strconv.FormatUint(uint64(seq), 10)
}

// ParsePosition reads a position "<stream>:<sequence>" (FormatPosition).
func ParsePosition(p string) (string, Sequence, error) {
	stream, num, ok := strings.Cut(p, ":")
	if !ok {
		return "", 0, fmt.Errorf("position %q is not <stream>:<sequence>", truncate(p))
	}
	if err := validStreamName(stream); err != nil {
		return "", 0, fmt.Errorf("position %q: stream name %v", truncate(p), err)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || num[0] == '+' {
		return "", 0, fmt.Errorf("position %q: the sequence after ':' must be a non-negative integer", truncate(p))
	}
	return stream, Sequence(n), nil
}

// provisionLayout provisions every stream of the layout, after checking that
// those already on the server are laid out the same way.
//
// The check reads only the layout's own streams (STREAM.INFO, which every
// role that opens the store may do): an existing stream with other subjects
// or another recorded layout is refused; a stream of the layout that the
// server refuses to create because its subjects overlap an existing stream's
// means the events already live in another layout.
func provisionLayout(ctx context.Context, js jetstream.JetStream, o Options, layout Layout) (map[string]jetstream.Stream, error) {
	out := make(map[string]jetstream.Stream, len(layout))
	var problems []string
	existing := ""
	for _, spec := range layout {
		stream, err := js.Stream(ctx, spec.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("streams: open stream %s: %w", spec.Name, classify(err))
		}
		cfg := stream.CachedInfo().Config
		recorded := cfg.Metadata[layoutMetadata]
		if recorded == "" && slices.Equal(cfg.Subjects, []string{SubjectPrefix + ".>"}) {
			recorded = Layout{{Name: cfg.Name}}.String()
		}
		if existing == "" {
			existing = recorded
		}
		switch {
		case !slices.Equal(cfg.Subjects, spec.subjects()):
			problems = append(problems, fmt.Sprintf("stream %s captures %v, configured %v", cfg.Name, cfg.Subjects, spec.subjects()))
		case recorded != layout.String():
			problems = append(problems, fmt.Sprintf("stream %s records the layout %q", cfg.Name, recorded))
		}
	}
	if len(problems) > 0 {
		return nil, layoutChanged(existing, layout, problems)
	}
	for _, spec := range layout {
		cfg := StreamConfig(o)
		cfg.Name = spec.Name
		cfg.Subjects = spec.subjects()
		if layout.MultiStream() {
			cfg.Description = "jetsource event store: events.<type>.<id> of " + strings.Join(spec.Types, ", ") + ", append-only"
			cfg.Metadata = map[string]string{layoutMetadata: layout.String()}
		}
		stream, err := provisionStream(ctx, js, o, cfg)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeSubjectOverlap {
			return nil, layoutChanged(existingLayout(ctx, js), layout,
				[]string{fmt.Sprintf("the subjects %v of stream %s are captured by another stream", cfg.Subjects, spec.Name)})
		}
		if err != nil {
			return nil, err
		}
		out[spec.Name] = stream
	}
	return out, nil
}

// errCodeSubjectOverlap is JetStream's "subjects overlap with an existing
// stream".
const errCodeSubjectOverlap jetstream.ErrorCode = 10065

// layoutChanged is the refusal of a layout other than the server's.
func layoutChanged(existing string, layout Layout, problems []string) error {
	if existing == "" {
		existing = "other streams"
	}
	return fmt.Errorf("streams: %w: the deployment's events are stored in %s, the configuration asks for %s (%s); "+
		"changing the layout of an existing deployment would re-route the events of existing aggregates, so it is refused: "+
		"configure the existing layout (store.streams)",
		ErrLayoutChanged, existing, layout, strings.Join(problems, "; "))
}

// existingLayout describes the event streams on the server, for the message
// of a refusal: the layout a stream records, or the streams capturing event
// subjects; "" when the server does not tell (a user without the right to
// list streams).
func existingLayout(ctx context.Context, js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var found Layout
	lister := js.ListStreams(ctx, jetstream.WithStreamListSubject(SubjectPrefix+".>"))
	for info := range lister.Info() {
		if recorded := info.Config.Metadata[layoutMetadata]; recorded != "" {
			return recorded
		}
		spec := StreamSpec{Name: info.Config.Name}
		for _, subj := range info.Config.Subjects {
			if subj != SubjectPrefix+".>" {
				spec.Types = append(spec.Types, strings.TrimSuffix(strings.TrimPrefix(subj, SubjectPrefix+"."), ".>"))
			}
		}
		found = append(found, spec)
	}
	slices.SortFunc(found, func(a, b StreamSpec) int { return strings.Compare(a.Name, b.Name) })
	return found.String()
}

// listTimeout bounds the listing of streams in a refusal's message.
const listTimeout = 2 * time.Second

// apiStreamStepdown is the JetStream API subject that asks a stream's leader
// to step down; with a placement's preferred server (nats-server 2.11+) the
// leadership moves to that server.
const apiStreamStepdown = "$JS.API.STREAM.LEADER.STEPDOWN."

// leaderSettle bounds how long provisioning waits for a moved leadership to
// show in the stream's info; spreadTimeout bounds the whole spreading, which
// runs after provisioning with a budget of its own.
const (
	leaderSettle  = 5 * time.Second
	spreadTimeout = 20 * time.Second
)

// spreadLeaders moves the leaders of the layout's streams apart: NATS elects
// each stream's leader among its peers by itself, and nothing keeps two
// streams from electing the same node (three R3 streams on three nodes land
// on three distinct nodes only 2 times in 9). A stream whose leader is the
// leader of an earlier stream is asked to step down to a peer that leads
// none yet. Best effort: writes are correct wherever the leaders are, and a
// failure is logged.
func spreadLeaders(ctx context.Context, js jetstream.JetStream, layout Layout, o Options) {
	taken := map[string]bool{}
	for _, spec := range layout {
		leader, err := moveLeaderOff(ctx, js, spec.Name, taken)
		if err != nil {
			o.Logger.Warn("event stream leaders not spread", "stream", spec.Name, "error", err)
		}
		if leader != "" {
			taken[leader] = true
		}
	}
}

// moveLeaderOff moves the leadership of stream to a current peer outside
// taken, if its leader is in taken and such a peer exists, retrying (a
// fresh stream's followers catch up, an election settles) until ctx ends.
// It returns where the leadership is.
func moveLeaderOff(ctx context.Context, js jetstream.JetStream, stream string, taken map[string]bool) (string, error) {
	var last string
	for {
		leader, peers, size, err := streamLeader(ctx, js, stream)
		switch {
		case err == nil && !taken[leader]:
			return leader, nil
		case err == nil && len(taken) >= size:
			return leader, nil // more streams than nodes: some share
		case err == nil:
			last = leader
			if free := slices.IndexFunc(peers, func(p string) bool { return !taken[p] }); free >= 0 {
				err = stepDownTo(ctx, js, stream, peers[free])
				if err == nil {
					return peers[free], nil
				}
				if errors.Is(err, errNoStepdown) {
					return leader, err // not allowed or not answered: no retry
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return last, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamLeader returns the leader of a stream, its current followers and
// the number of its replicas.
func streamLeader(ctx context.Context, js jetstream.JetStream, name string) (string, []string, int, error) {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return "", nil, 0, err
	}
	ci := stream.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return "", nil, 0, fmt.Errorf("stream %s has no leader yet", name)
	}
	var peers []string
	for _, p := range ci.Replicas {
		if p.Current && !p.Offline {
			peers = append(peers, p.Name)
		}
	}
	slices.Sort(peers)
	return ci.Leader, peers, 1 + len(ci.Replicas), nil
}

// errNoStepdown is a stepdown request that was not answered.
var errNoStepdown = errors.New("stepdown request not answered")

// stepDownTo moves the leadership of stream to server and waits until the
// stream reports it.
func stepDownTo(ctx context.Context, js jetstream.JetStream, stream, server string) error {
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": server}})
	rctx, cancel := context.WithTimeout(ctx, leaderSettle)
	msg, err := js.Conn().RequestWithContext(rctx, apiStreamStepdown+stream, req)
	cancel()
	if err != nil {
		// No answer is what a user without the right to ask looks like.
		return fmt.Errorf("%w: %w", errNoStepdown, err)
	}
	var resp struct {
		Success bool `json:"success"`
		Error   *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return err
	}
	if !resp.Success {
		if resp.Error != nil {
			return errors.New(resp.Error.Description)
		}
		return errors.New("the server did not step down")
	}
	deadline := time.Now().Add(leaderSettle)
	for time.Now().Before(deadline) {
		if leader, _, _, err := streamLeader(ctx, js, stream); err == nil && leader == server {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("stream %s: leadership not on %s within %v", stream, server, leaderSettle)
}

// MultiStream reports whether the store's layout has several streams named
// by type (Layout.MultiStream).
func (s *Store) MultiStream() bool { return s.layout.MultiStream() }
