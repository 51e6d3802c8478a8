package writer_test

import (
	"context"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// member is a test aggregate with a unique name, whose commands are split
// between writers so that a test knows which writer serves each. Creating
// commands: join, enroll; renaming: rename, relabel; touch appends an event
// without a name. pause, when set, runs in rename's decision.
type member struct {
	Name string `json:"name"`
}

type nameData struct {
	Name string `json:"name"`
}

func (d nameData) Validate() error {
	if d.Name == "" {
		return aggregate.Invalid("name is required")
	}
	return nil
}

func memberParts(pause func(), commands ...string) aggregate.Definition[member] {
	reg := codec.NewRegistry()
	type Named struct {
		Name string `json:"name"`
	}
	type Touched struct{}
	codec.Register[Named](reg, "Named")
	codec.Register[Touched](reg, "Touched")
	name := aggregate.Unique(func(d nameData) string { return d.Name })
	named := func(d nameData) ([]any, error) { return []any{Named{Name: d.Name}}, nil }
	all := map[string]aggregate.Command[member]{
		"join":   aggregate.Create[member](named, name),
		"enroll": aggregate.Create[member](named, name),
		"rename": aggregate.Handle(func(_ member, d nameData) ([]any, error) {
			if pause != nil {
				pause()
			}
			return named(d)
		}, name),
		"relabel": aggregate.Handle(func(_ member, d nameData) ([]any, error) { return named(d) }, name),
		"touch":   aggregate.Handle(func(member, struct{}) ([]any, error) { return []any{Touched{}}, nil }),
	}
	def := aggregate.Definition[member]{Type: "member", Events: reg, Commands: map[string]aggregate.Command[member]{},
		Evolve: func(s member, e any) member {
			if n, ok := e.(Named); ok {
				s.Name = n.Name
			}
			return s
		}}
	for _, c := range commands {
		def.Commands[c] = all[c]
	}
	return def
}

// The loser of two registrations racing for one aggregate with different
// names gives its name back: the conflict ("already exists") path releases
// the reservation its append did not store.
func TestLosingCreationGivesItsUniqueNameBack(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, memberParts(nil, "join")) })
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, memberParts(nil, "enroll", "relabel")) })
	nc := n.Connect()
	// The first writer loads m1 before it exists (and caches that).
	assert.Equal(t, 400, send(t, nc, "cmd.member.join", `{"aggregate_id":"m1","data":{}}`).status)
	ok(t, nc, "cmd.member.enroll", `{"aggregate_id":"m1","data":{"name":"alice"}}`)
	// Decided on its cache, this creation reserves "bob", then its append
	// is refused: m1 exists.
	r := send(t, nc, "cmd.member.join", `{"aggregate_id":"m1","data":{"name":"bob"}}`)
	assert.Equal(t, 409, r.status, r.raw)
	assert.Contains(t, r.msg, "already exists")

	ok(t, nc, "cmd.member.enroll", `{"aggregate_id":"m2","data":{"name":"bob"}}`)
	taken := send(t, nc, "cmd.member.join", `{"aggregate_id":"m3","data":{"name":"alice"}}`)
	assert.Equal(t, 409, taken.status, taken.raw)
	assert.Contains(t, taken.msg, `"alice" is already taken`)
}

// A holder that pauses past the stale-reservation age, and whose key is
// taken over meanwhile, does not append with the key when it wakes.
func TestTakenOverReservationFencesItsPausedHolder(t *testing.T) {
	n := testkit.StartNATS(t)
	var renames atomic.Int32
	paused, wake := make(chan struct{}), make(chan struct{})
	pause := func() {
		if renames.Add(1) == 2 { // the retry after the first append's conflict
			close(paused)
			<-wake
		}
	}
	const stale = time.Millisecond
	w := startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, memberParts(pause, "join", "rename")) },
		writer.WithStaleReservation(stale))
	startWriterWith(t, n, func(w *writer.Writer) error {
		return writer.Register(w, memberParts(nil, "enroll", "relabel", "touch"))
	},
		writer.WithStaleReservation(stale))
	var once sync.Once
	wakeUp := func() { once.Do(func() { close(wake) }) }
	t.Cleanup(wakeUp) // before the writers stop, even when the test fails early
	nc := n.Connect()
	ok(t, nc, "cmd.member.join", `{"aggregate_id":"m1","data":{"name":"one"}}`) // cached at version 1 by the first writer
	ok(t, nc, "cmd.member.touch", `{"aggregate_id":"m1"}`)                      // moved to 2 by the second
	ok(t, nc, "cmd.member.enroll", `{"aggregate_id":"m2","data":{"name":"two"}}`)

	holder := make(chan result, 1)
	go func() {
		holder <- send(t, n.Connect(), "cmd.member.rename", `{"aggregate_id":"m1","data":{"name":"zed"}}`)
	}()
	<-paused // reserved "zed", append refused (stale cache), deciding again
	kv := uniqueBucket(t, n)
	testkit.Eventually(t, 5*time.Second, func() bool {
		e, err := kv.Get(context.Background(), "member."+base64.RawURLEncoding.EncodeToString([]byte("zed")))
		return err == nil && time.Since(e.Created()) > stale
	}, "the reservation of zed is stale")
	takeover := send(t, nc, "cmd.member.relabel", `{"aggregate_id":"m2","data":{"name":"zed"}}`)
	assert.Equal(t, 200, takeover.status, "the stale reservation is taken over: %s", takeover.raw)
	wakeUp()

	r := <-holder
	assert.Equal(t, 409, r.status, r.raw)
	assert.Contains(t, r.msg, `"zed" is already taken`)
	evs := events(t, w.store, "member", "m1")
	assert.Len(t, evs, 2, "the paused holder appended nothing")
	assert.Contains(t, string(events(t, w.store, "member", "m2")[1].Data), "zed")
}

// A store that cannot be read while a reservation is checked answers 503,
// never 409 "taken"; a reservation whose command never appended is taken
// over once stale.
func TestStoreErrorDuringReservationIsUnavailableNotTaken(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, memberParts(nil, "join")) },
		writer.WithStaleReservation(time.Millisecond))
	nc := n.Connect()
	// A writer that stopped between reserving "carl" for ghost and
	// appending left this entry (<type>.<base64url(key)> -> holder).
	_, err := uniqueBucket(t, n).Create(context.Background(), "member."+base64.RawURLEncoding.EncodeToString([]byte("carl")),
		[]byte("ghost")) // the bare id, as older writers wrote it
	require.NoError(t, err)
	assert.Equal(t, 400, send(t, nc, "cmd.member.join", `{"aggregate_id":"m5","data":{}}`).status) // m5 cached as new

	restore := unansweredReads(t, n)
	r := send(t, nc, "cmd.member.join", `{"aggregate_id":"m5","data":{"name":"carl"}}`)
	assert.Equal(t, 503, r.status, r.raw)
	assert.Equal(t, "unavailable", r.code)
	restore()

	ok(t, nc, "cmd.member.join", `{"aggregate_id":"m5","data":{"name":"carl"}}`)
}

func uniqueBucket(t *testing.T, n *testkit.NATS) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(n.Connect())
	require.NoError(t, err)
	kv, err := js.KeyValue(context.Background(), writer.UniqueBucket)
	require.NoError(t, err)
	return kv
}

// A writer that died between reserving a username and appending leaves the
// reservation behind; when the command's resend is refused (the user exists
// by now, under another name) the orphaned reservation is given back at
// once, so the name is never held without a user of that name.
func TestRefusedResendGivesBackTheReservationItsDeadAttemptLeft(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriter(t, n)
	nc := n.Connect()
	kv := uniqueBucket(t, n)
	name := "user." + base64.RawURLEncoding.EncodeToString([]byte("orphan-name"))
	_, err := kv.Create(context.Background(), name, []byte(`{"aggregate_id":"u9","events":"reg-u9-a"}`))
	require.NoError(t, err)
	ok(t, nc, "cmd.user.register", `{"aggregate_id":"u9","command_id":"reg-u9-b","data":{"username":"other-name","password":"long enough password"}}`)

	r := send(t, nc, "cmd.user.register", `{"aggregate_id":"u9","command_id":"reg-u9-a","data":{"username":"orphan-name","password":"long enough password"}}`)
	assert.Equal(t, 409, r.status, r.raw)
	_, err = kv.Get(context.Background(), name)
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound, "the orphaned reservation is given back")
}
