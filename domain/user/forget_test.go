package user_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/shred"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// Usernames long enough that finding one by chance in a key or value is out
// of the question.
const (
	forgottenName = "ada.lovelace-1815"
	keptName      = "charles.babbage-1791"
)

// platform is a writer, a projection runner and a reader of the user
// sample, on an embedded nats-server and a private Redis.
type platform struct {
	t      *testing.T
	ctx    context.Context
	store  *streams.Store
	repo   *streams.Repository[user.State]
	rdb    *redis.Client
	runner *projections.Runner
	nc     *nats.Conn
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := testkit.StartNATS(t)
	p := &platform{t: t, ctx: ctx, rdb: testkit.StartRedis(t).Client(t), nc: n.Connect()}
	wnc := n.Connect(nats.ReconnectBufSize(-1))
	var err error
	p.store, err = streams.Open(ctx, wnc)
	require.NoError(t, err)
	def := user.DefinitionWithCost(bcrypt.MinCost)
	p.repo, err = streams.NewRepository(p.store, streams.ModelOf(def))
	require.NoError(t, err)
	w, err := writer.New(wnc, p.store)
	require.NoError(t, err)
	require.NoError(t, writer.Register(w, def))
	p.runner, err = projections.NewRunner(p.store.JetStream(), p.rdb, []projections.Projection{user.Projection()},
		projections.WithFetchWait(50*time.Millisecond), projections.WithPersonalData(p.store))
	require.NoError(t, err)
	rd := reader.New(n.Connect(), p.rdb, reader.WithLastSequence(reader.LastSequenceOf(p.store.JetStream(), p.store.StreamName())))
	require.NoError(t, rd.Register(user.Queries()...))
	done := make(chan struct{}, 3)
	for _, run := range []func(context.Context) error{w.Serve, p.runner.Run, rd.Serve} {
		go func() { _ = run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			<-done
		}
	})
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err1 := p.nc.Request("cmd.user.forget", []byte(`{"aggregate_id":"nobody"}`), time.Second)
		_, err2 := p.nc.Request("query.user.get", []byte(`{"username":"nobody"}`), time.Second)
		return err1 == nil && err2 == nil
	}, "writer and reader up")
	return p
}

// reply is a command's or query's answer: its status ("" for success) and
// body.
type reply struct {
	status string
	body   string
	seq    uint64
}

func (p *platform) request(subject, body string) reply {
	p.t.Helper()
	msg, err := p.nc.Request(subject, []byte(body), 10*time.Second)
	require.NoError(p.t, err, subject)
	var r struct {
		Sequence uint64 `json:"sequence"`
	}
	_ = json.Unmarshal(msg.Data, &r)
	return reply{status: msg.Header.Get(micro.ErrorCodeHeader), body: string(msg.Data), seq: r.Sequence}
}

func (p *platform) command(command, id, data string) reply {
	p.t.Helper()
	return p.request("cmd.user."+command, fmt.Sprintf(`{"aggregate_id":%q,"data":%s}`, id, data))
}

// get asks user.get, reading at least sequence seq.
func (p *platform) get(username string, seq uint64) reply {
	p.t.Helper()
	return p.request("query.user.get", fmt.Sprintf(`{"username":%q,"min_sequence":%d}`, username, seq))
}

// redisHolds returns every key of Redis, or value of one, that contains one
// of secrets.
func (p *platform) redisHolds(secrets ...string) []string {
	p.t.Helper()
	var found []string
	check := func(where, s string) {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				found = append(found, where)
			}
		}
	}
	keys, err := p.rdb.Keys(p.ctx, "*").Result()
	require.NoError(p.t, err)
	require.NotEmpty(p.t, keys)
	for _, k := range keys {
		check("key "+k, k)
		typ, err := p.rdb.Type(p.ctx, k).Result()
		require.NoError(p.t, err)
		var values []string
		switch typ {
		case "string":
			values = []string{p.rdb.Get(p.ctx, k).Val()}
		case "hash":
			for f, v := range p.rdb.HGetAll(p.ctx, k).Val() {
				values = append(values, f, v)
			}
		case "set":
			values = p.rdb.SMembers(p.ctx, k).Val()
		case "zset":
			values = p.rdb.ZRange(p.ctx, k, 0, -1).Val()
		case "list":
			values = p.rdb.LRange(p.ctx, k, 0, -1).Val()
		default:
			p.t.Fatalf("redis key %s of type %s is not scanned", k, typ)
		}
		for _, v := range values {
			check("value of "+k, v)
		}
	}
	return found
}

// rawPayloads returns the stored payloads of aggregate id, as a raw reader
// of the stream (any JetStream client) gets them.
func (p *platform) rawPayloads(id string) []string {
	p.t.Helper()
	stream, err := p.store.JetStream().Stream(p.ctx, p.store.StreamName())
	require.NoError(p.t, err)
	info, err := stream.Info(p.ctx)
	require.NoError(p.t, err)
	var out []string
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(p.ctx, seq)
		require.NoError(p.t, err)
		if msg.Subject == "events.user."+id {
			out = append(out, string(msg.Data))
		}
	}
	return out
}

func TestForgottenUserIsNowhereAndTheOtherUntouched(t *testing.T) {
	p := startPlatform(t)
	var registered uint64
	for id, name := range map[string]string{"u-ada": forgottenName, "u-charles": keptName} {
		r := p.command("register", id, registerData(name, secret))
		require.Empty(t, r.status, r.body)
		registered = max(registered, r.seq)
	}
	ada, err := p.repo.Load(p.ctx, "u-ada")
	require.NoError(t, err)
	hash := ada.State.PasswordHash
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)))
	charles, err := p.repo.Load(p.ctx, "u-charles")
	require.NoError(t, err)
	require.Equal(t, keptName, charles.State.Username)

	// Even before the forget, the stream holds only ciphertext of them.
	for _, payload := range p.rawPayloads("u-ada") {
		assert.NotContains(t, payload, forgottenName)
		assert.NotContains(t, payload, hash)
		assert.Contains(t, payload, `"username":{"enc":"v1","kid":"`)
	}
	r := p.get(forgottenName, registered)
	require.Empty(t, r.status, r.body)
	assert.JSONEq(t, `{"id":"u-ada","username":"`+forgottenName+`"}`, string(mustData(t, r.body)))

	forget := p.command("forget", "u-ada", `{}`)
	require.Empty(t, forget.status, forget.body)
	assert.Contains(t, forget.body, `"type":"UserForgotten"`)
	again := p.command("forget", "u-ada", `{}`)
	require.Empty(t, again.status, again.body)
	assert.NotContains(t, again.body, "UserForgotten", "forgetting a forgotten user appends nothing")

	secrets := []string{forgottenName, hash}
	requireForgotten := func(t *testing.T, seq uint64) {
		r := p.get(forgottenName, seq)
		assert.Equal(t, "404", r.status, r.body)
		kept := p.get(keptName, seq)
		require.Empty(t, kept.status, kept.body)
		assert.JSONEq(t, `{"id":"u-charles","username":"`+keptName+`"}`, string(mustData(t, kept.body)))
		for _, body := range []string{r.body, kept.body, forget.body, again.body} {
			for _, s := range secrets {
				assert.NotContains(t, body, s, "a reply")
			}
		}
		assert.Empty(t, p.redisHolds(secrets...), "redis")
	}
	t.Run("read models", func(t *testing.T) { requireForgotten(t, forget.seq) })

	t.Run("decoded reads", func(t *testing.T) {
		ref, err := streams.NewRef(user.Type, "u-ada")
		require.NoError(t, err)
		var types []string
		for rec, err := range p.store.Read(p.ctx, ref, streams.Position{}, streams.Until{}) {
			require.NoError(t, err)
			types = append(types, rec.Type)
			for _, s := range secrets {
				assert.NotContains(t, string(rec.Data), s)
			}
			if rec.Type == "UserRegistered" {
				assert.JSONEq(t, `{"username":null,"password_hash":null}`, string(rec.Data))
				assert.Equal(t, []string{"password_hash", "username"}, rec.Forgotten)
			}
		}
		assert.Equal(t, []string{"UserRegistered", "UserForgotten"}, types)
		for _, until := range []streams.Until{{}, {Version: 1}} {
			a, err := p.repo.LoadAt(p.ctx, "u-ada", until)
			require.NoError(t, err)
			assert.Equal(t, user.State{Forgotten: until.Version == 0}, a.State, "time travel does not bring it back either")
		}
		for _, payload := range p.rawPayloads("u-ada") {
			for _, s := range secrets {
				assert.NotContains(t, payload, s, "raw stream")
			}
		}
		kept, err := p.repo.Load(p.ctx, "u-charles")
		require.NoError(t, err)
		assert.Equal(t, charles.State, kept.State)
	})

	t.Run("keys", func(t *testing.T) {
		held, err := p.store.Keys().Holds(p.ctx, "user.u-ada")
		require.NoError(t, err)
		assert.False(t, held, "the forgotten user's key is gone")
		held, err = p.store.Keys().Holds(p.ctx, "user.u-charles")
		require.NoError(t, err)
		assert.True(t, held)
	})

	t.Run("rebuild", func(t *testing.T) {
		require.NoError(t, p.runner.Rebuild(p.ctx, user.ProjectionName))
		requireForgotten(t, forget.seq)
	})

	// Last, as it writes the name again: the username is free.
	again = p.command("register", "u-ada-2", registerData(forgottenName, secret))
	assert.Empty(t, again.status, again.body)
}

// TestAForgetWhoseKeyDeletionFailedIsCompleted stores UserForgotten as a
// writer that stopped right after appending it would have left it: the
// user's key and its username's reservation still there. The projector
// deletes the key, and the username is free for another user.
func TestAForgetWhoseKeyDeletionFailedIsCompleted(t *testing.T) {
	p, a := startWithAda(t)
	forgotten, err := user.Events().Encode(user.UserForgotten{})
	require.NoError(t, err)
	_, err = p.store.Append(p.ctx, a.Ref, a.Position, []streams.Event{{Type: forgotten.Type, Data: forgotten.Data}})
	require.NoError(t, err)
	held, err := p.store.Keys().Holds(p.ctx, "user.u-ada")
	require.NoError(t, err)
	require.True(t, held, "the append alone forgot nothing")

	testkit.Eventually(t, 10*time.Second, func() bool {
		held, err := p.store.Keys().Holds(p.ctx, "user.u-ada")
		return err == nil && !held
	}, "the projector completes the forget")
	r := p.command("register", "u-other", registerData(forgottenName, secret))
	assert.Empty(t, r.status, "the username held by a forgotten user is free: %s", r.body)
}

// TestALoadCompletesAForget: with no projector running, the writer's next
// load of a forgotten user deletes its key.
func TestALoadCompletesAForget(t *testing.T) {
	ctx := context.Background()
	store, err := streams.Open(ctx, testkit.StartNATS(t).Connect())
	require.NoError(t, err)
	repo, err := streams.NewRepository(store, streams.ModelOf(user.DefinitionWithCost(bcrypt.MinCost)))
	require.NoError(t, err)
	reg, err := user.Events().Encode(user.UserRegistered{Username: forgottenName, PasswordHash: "$2a$04$hash"})
	require.NoError(t, err)
	forgotten, err := user.Events().Encode(user.UserForgotten{})
	require.NoError(t, err)
	ref, err := streams.NewRef(user.Type, "u-ada")
	require.NoError(t, err)
	_, err = store.Append(ctx, ref, streams.Position{}, []streams.Event{
		{Type: reg.Type, Data: reg.Data, Personal: reg.Personal},
		{Type: forgotten.Type, Data: forgotten.Data}, // Forgets not set: the deletion "failed"
	})
	require.NoError(t, err)
	held, err := store.Keys().Holds(ctx, ref.Key())
	require.NoError(t, err)
	require.True(t, held)

	a, err := repo.Load(ctx, "u-ada")
	require.NoError(t, err)
	assert.True(t, a.Forgotten)
	held, err = store.Keys().Holds(ctx, ref.Key())
	require.NoError(t, err)
	assert.False(t, held, "the load deleted the key")
	_, err = store.JetStream().KeyValue(ctx, shred.DefaultBucket)
	require.NoError(t, err, "the keys live in the store's bucket")
}

// snapshotLeft reports whether the aggregate's snapshot is still stored.
func snapshotLeft(t *testing.T, js jetstream.JetStream, key string) bool {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), streams.DefaultSnapshotBucket)
	require.NoError(t, err)
	_, err = kv.Get(context.Background(), key)
	return err == nil
}

// TestForgetDeletesTheSnapshotThatHeldThePlainState: a snapshot taken
// before the forget holds the state in plain; it goes with the key.
func TestForgetDeletesTheSnapshotThatHeldThePlainState(t *testing.T) {
	p, a := startWithAda(t)
	require.NoError(t, p.repo.SaveSnapshot(p.ctx, a))
	require.True(t, snapshotLeft(t, p.store.JetStream(), "user.u-ada"))

	r := p.command("forget", "u-ada", `{}`)
	require.Empty(t, r.status, r.body)
	assert.False(t, snapshotLeft(t, p.store.JetStream(), "user.u-ada"))
}

// startWithAda starts a platform with one registered user, u-ada.
func startWithAda(t *testing.T) (*platform, streams.Aggregate[user.State]) {
	t.Helper()
	p := startPlatform(t)
	r := p.command("register", "u-ada", registerData(forgottenName, secret))
	require.Empty(t, r.status, r.body)
	a, err := p.repo.Load(p.ctx, "u-ada")
	require.NoError(t, err)
	return p, a
}

func mustData(t *testing.T, body string) json.RawMessage {
	t.Helper()
	var r struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	return r.Data
}
