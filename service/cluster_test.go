package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/testkit"
)

// clusterWait bounds how long a command or query waits for the services
// to come up, and a query for its projection to catch up (wait_ms).
const clusterWait = 30 * time.Second

// commandResends bounds how often a command answered 503 is sent again.
const commandResends = 5

// onCluster is the sample platform's writer, projector and reader, each
// started as its binary starts (service.Start: settings from the
// environment, connections), on an embedded NATS and a Redis Cluster.
type onCluster struct {
	t    *testing.T
	rc   *testkit.RedisCluster
	nc   *nats.Conn
	logs *testkit.SyncBuffer
	// last is the stream sequence of the last command: queries read it.
	last uint64
}

func startOnCluster(t *testing.T, rc *testkit.RedisCluster) *onCluster {
	n := testkit.StartNATS(t)
	env := map[string]string{
		"NATS_URL":                       n.URL(),
		"JETSOURCE_REDIS_URL":            rc.URL(),
		"JETSOURCE_REDIS_CLUSTER":        "true",
		"JETSOURCE_PROJECTOR_FETCH_WAIT": "50ms",
		"JETSOURCE_PROJECTOR_LEASE_TTL":  "1500ms",
		"JETSOURCE_HTTP_GATEWAY_LISTEN":  "",
	}
	getenv := func(k string) string { return env[k] }
	c := &onCluster{t: t, rc: rc, nc: n.Connect(), logs: &testkit.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the services' logs:\n%s", c.logs)
		}
	})
	p := samples.Platform()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, s := range []struct {
		name  string
		needs service.Needs
		run   func(context.Context, service.Deps) error
	}{
		{"writer", service.Needs{Writer: true}, p.Writer},
		{"projector", service.Needs{Redis: true}, p.Projector},
		{"reader", service.Needs{Redis: true}, p.Reader},
	} {
		wg.Go(func() {
			err := service.Start(ctx, s.name, nil, getenv, c.logs, s.needs, func(ctx context.Context, d service.Deps) error {
				if d.Redis != nil {
					if _, ok := d.Redis.(*redis.ClusterClient); !ok {
						return fmt.Errorf("redis.cluster: the %s got a %T, not a cluster client", s.name, d.Redis)
					}
					rc.CrossSlot.Watch(d.Redis)
				}
				return s.run(ctx, d)
			})
			assert.NoError(t, err, "%s", s.name)
		})
	}
	return c
}

// request sends data to subject, again while nobody answers yet (the
// services are starting), and returns the reply.
func (c *onCluster) request(subject string, data any) *nats.Msg {
	c.t.Helper()
	body, err := json.Marshal(data)
	require.NoError(c.t, err)
	deadline := time.Now().Add(clusterWait)
	for {
		msg, err := c.nc.Request(subject, body, clusterWait)
		if errors.Is(err, nats.ErrNoResponders) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		require.NoError(c.t, err, "%s %s", subject, body)
		return msg
	}
}

// command runs command name of aggregate typ/id and requires it to succeed.
// It carries a command_id, so a 503 (a writer's JetStream call that timed
// out on the loaded machine) is sent again, as the contract allows.
func (c *onCluster) command(typ, name, id string, data any) {
	c.t.Helper()
	req := map[string]any{"aggregate_id": id, "command_id": nuid.Next(), "data": data}
	msg := c.request("cmd."+typ+"."+name, req)
	for range commandResends {
		if msg.Header.Get(micro.ErrorCodeHeader) != "503" {
			break
		}
		c.t.Logf("cmd.%s.%s %s answered %s; sent again", typ, name, id, msg.Data)
		msg = c.request("cmd."+typ+"."+name, req)
	}
	require.Empty(c.t, msg.Header.Get(micro.ErrorCodeHeader), "cmd.%s.%s %s: %s", typ, name, id, msg.Data)
	var reply struct {
		Sequence uint64 `json:"sequence"`
	}
	require.NoError(c.t, json.Unmarshal(msg.Data, &reply))
	c.last = max(c.last, reply.Sequence)
}

// query asks model.name with params once every command so far is applied,
// and returns the data of the answer, or the error code.
func (c *onCluster) query(model, name string, params map[string]any) (data json.RawMessage, code string) {
	c.t.Helper()
	q := map[string]any{"min_sequence": c.last, "wait_ms": clusterWait.Milliseconds()}
	for k, v := range params {
		q[k] = v
	}
	msg := c.request("query."+model+"."+name, q)
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, code + " " + string(msg.Data)
	}
	var reply struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(c.t, json.Unmarshal(msg.Data, &reply))
	return reply.Data, ""
}

// model is what the read models must answer: the fold of the events of the
// commands the writer accepted.
type model struct {
	accounts map[string]*account.View
	products map[string]int64 // stock
}

// deposit and withdraw run the command on account id and keep m the fold.
func (m *model) deposit(c *onCluster, id string, amount int64) {
	c.command("account", "deposit", id, map[string]any{"amount": amount})
	m.accounts[id].Balance += amount
	m.accounts[id].Version++
}

func (m *model) withdraw(c *onCluster, id string, amount int64) {
	c.command("account", "withdraw", id, map[string]any{"amount": amount})
	m.accounts[id].Balance -= amount
	m.accounts[id].Version++
}

// load sends the workload: accounts with deposits and withdrawals, the
// seed's order, products with stock, users (one forgotten).
func (c *onCluster) load(m *model, accounts int) {
	c.t.Helper()
	for i := range accounts {
		id := fmt.Sprintf("acc-%02d", i)
		c.command("account", "open", id, map[string]any{"owner": "owner-" + id})
		m.accounts[id] = &account.View{ID: id, Owner: "owner-" + id, Version: 1}
		for d := 1; d <= 3; d++ {
			m.deposit(c, id, int64(10*d))
		}
		m.withdraw(c, id, int64(i+1))
	}
	c.command("order", "place", "7dd8", nil)
	c.command("order", "add_item", "7dd8", map[string]any{"item_id": "9a37", "quantity": 3})
	c.command("order", "add_item", "7dd8", map[string]any{"item_id": "c52a", "quantity": 1})
	c.command("order", "remove_item", "7dd8", map[string]any{"item_id": "c52a"})
	c.command("order", "add_item", "7dd8", map[string]any{"item_id": "a974", "quantity": 10})
	c.command("order", "change_quantity", "7dd8", map[string]any{"item_id": "9a37", "quantity": 5})
	for id, stock := range map[string]int64{"pen": 3, "ink": 0, "pad": 12, "cap": 9, "box": 3} {
		c.command("product", "register", id, map[string]any{"name": strings.ToUpper(id)})
		if stock > 0 {
			c.command("product", "receive_stock", id, map[string]any{"quantity": stock + 2})
			c.command("product", "remove_stock", id, map[string]any{"quantity": 2})
		}
		m.products[id] = stock
	}
	c.command("user", "register", "u-ada", map[string]any{"username": "ada", "password": "correct horse"})
	c.command("user", "register", "u-bob", map[string]any{"username": "bob", "password": "battery staple"})
	c.command("user", "forget", "u-bob", nil)
}

// checkEveryQuery asks every sample query and compares each answer with m.
func (c *onCluster) checkEveryQuery(m *model) {
	c.t.Helper()
	ids := make([]string, 0, len(m.accounts))
	for id, want := range m.accounts {
		ids = append(ids, id)
		data, code := c.query("account", "get", map[string]any{"id": id})
		var got account.View
		if assert.Empty(c.t, code, "account.get %s", id) && assert.NoError(c.t, json.Unmarshal(data, &got)) {
			assert.Equal(c.t, *want, got, "account.get %s", id)
		}
	}
	sort.Strings(ids)
	// account.list pages through every account in id order.
	var listed []string
	for after := ""; ; {
		data, code := c.query("account", "list", map[string]any{"limit": 4, "after": after})
		require.Empty(c.t, code, "account.list after %q", after)
		var page []account.View
		require.NoError(c.t, json.Unmarshal(data, &page))
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			listed = append(listed, a.ID)
			if want := m.accounts[a.ID]; assert.NotNil(c.t, want, "account.list: unknown %s", a.ID) {
				assert.Equal(c.t, *want, a, "account.list: %s", a.ID)
			}
		}
		after = page[len(page)-1].ID
	}
	assert.Equal(c.t, ids, listed, "account.list: every account, in id order")

	data, code := c.query("order", "get", map[string]any{"id": "7dd8"})
	if assert.Empty(c.t, code, "order.get") {
		assert.JSONEq(c.t, `{"id":"7dd8","items":[{"item_id":"9a37","quantity":5},{"item_id":"a974","quantity":10}],"version":6}`, string(data))
	}
	for id, stock := range m.products {
		data, code := c.query("product", "get", map[string]any{"id": id})
		if assert.Empty(c.t, code, "product.get %s", id) {
			var p product.View
			require.NoError(c.t, json.Unmarshal(data, &p))
			assert.Equal(c.t, product.View{ID: id, Name: strings.ToUpper(id), Stock: stock, Version: p.Version}, p)
		}
	}
	data, code = c.query("product", "low_stock", map[string]any{"below": 10, "limit": 10})
	if assert.Empty(c.t, code, "product.low_stock") {
		var low []product.View
		require.NoError(c.t, json.Unmarshal(data, &low))
		var got []string
		for _, p := range low {
			got = append(got, p.ID)
		}
		var want []string
		for id, stock := range m.products {
			if stock < 10 {
				want = append(want, id)
			}
		}
		// Lowest stock first; equal stock in id order, as the index's.
		sort.Slice(want, func(i, j int) bool {
			a, b := m.products[want[i]], m.products[want[j]]
			return a < b || a == b && want[i] < want[j]
		})
		assert.Equal(c.t, want, got, "stock below 10, lowest first, 0 included")
	}
	data, code = c.query("product", "low_stock", map[string]any{"below": 10, "limit": 2})
	if assert.Empty(c.t, code, "product.low_stock limit 2") {
		var low []product.View
		require.NoError(c.t, json.Unmarshal(data, &low))
		assert.Len(c.t, low, 2, "limit honoured")
	}
	data, code = c.query("user", "get", map[string]any{"username": "ada"})
	if assert.Empty(c.t, code, "user.get ada") {
		assert.JSONEq(c.t, `{"id":"u-ada","username":"ada"}`, string(data))
	}
	_, code = c.query("user", "get", map[string]any{"username": "bob"})
	assert.True(c.t, strings.HasPrefix(code, "404"), "a forgotten user is not found: %s", code)
}

// noCrossSlot fails the test on any CROSSSLOT error a client met or a
// service logged.
func (c *onCluster) noCrossSlot() {
	c.t.Helper()
	assert.Empty(c.t, c.rc.CrossSlot.Errors(), "CROSSSLOT errors")
	for _, line := range strings.Split(c.logs.String(), "\n") {
		assert.False(c.t, testkit.IsCrossSlot(fmt.Errorf("%s", line)), "a service logged a cross-slot error: %s", line)
	}
}

// sampleProjections names the sample projections.
var sampleProjections = []string{account.ProjectionName, order.ProjectionName, product.ProjectionName, user.ProjectionName}

func TestSamplePlatformOnARedisCluster(t *testing.T) {
	testSamplePlatformOnACluster(t, testkit.StartRedisCluster(t))
}

func TestSamplePlatformOnAValkeyCluster(t *testing.T) {
	testSamplePlatformOnACluster(t, testkit.StartValkeyCluster(t))
}

func testSamplePlatformOnACluster(t *testing.T, rc *testkit.RedisCluster) {
	c := startOnCluster(t, rc)
	rdb := rc.Client(t)
	ctx := context.Background()
	m := &model{accounts: map[string]*account.View{}, products: map[string]int64{}}
	c.load(m, 24)
	c.checkEveryQuery(m)

	// The projections spread over the masters: each lives on the master of
	// its hash tag.
	masters := map[string]int{}
	spread := map[int]bool{}
	for _, name := range sampleProjections {
		i, err := rc.MasterOf(projections.KeysOf(name).Generation())
		require.NoError(t, err)
		masters[name] = i
		spread[i] = true
	}
	t.Logf("masters of the projections: %v", masters)
	assert.Greater(t, len(spread), 1, "the projections live on more than one master")

	// Blue/green rebuild while queries answer: every answer during it is
	// the model's, from one generation or the other.
	gen := rdb.Get(ctx, projections.KeysOf(account.ProjectionName).Generation()).Val()
	stop := make(chan struct{})
	var answered, queries sync.WaitGroup
	answered.Add(1)
	count := 0
	queries.Go(func() {
		first := true
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("acc-%02d", count%24)
			data, code := c.query("account", "get", map[string]any{"id": id})
			var a account.View
			if assert.Empty(t, code, "account.get %s during the rebuild", id) && assert.NoError(t, json.Unmarshal(data, &a)) {
				assert.Equal(t, *m.accounts[id], a, "account.get %s during the rebuild", id)
			}
			count++
			if first {
				answered.Done()
				first = false
			}
		}
	})
	answered.Wait()
	r := requestRebuild(t, c.nc, account.ProjectionName)
	close(stop)
	queries.Wait()
	require.Empty(t, r.status, "rebuild: %+v", r.Error)
	t.Logf("%d account.get answered around the rebuild", count)
	assert.NotEqual(t, gen, rdb.Get(ctx, projections.KeysOf(account.ProjectionName).Generation()).Val(), "the rebuild switched the generation")
	old, err := strconv.ParseInt(gen, 10, 64)
	require.NoError(t, err)
	require.NoError(t, rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		left, err := m.Keys(ctx, projections.KeysOf(account.ProjectionName).Gen(old)+"*").Result()
		assert.Empty(t, left, "keys of the old generation left on master %s", m.Options().Addr)
		return err
	}), "the old generation is deleted on every master")
	c.checkEveryQuery(m)

	// FLUSHALL of the master of the accounts: the projections whose keys
	// lived there rebuild by themselves; the others keep theirs.
	flushed := masters[account.ProjectionName]
	gens := map[string]string{}
	for _, name := range sampleProjections {
		gens[name] = rdb.Get(ctx, projections.KeysOf(name).Generation()).Val()
	}
	require.NoError(t, rc.FlushMaster(flushed))
	for _, name := range sampleProjections {
		// Those of the flushed master may already have rebuilt their
		// pointer by now: only the others' are checked at once.
		if masters[name] == flushed {
			continue
		}
		n, err := rdb.Exists(ctx, projections.KeysOf(name).Generation()).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "%s: generation pointer after FLUSHALL of master %d", name, flushed)
	}
	// Commands go on meanwhile; the models end equal to the fold.
	m.deposit(c, "acc-00", 5)
	m.withdraw(c, "acc-07", 1)
	c.checkEveryQuery(m)
	for _, name := range sampleProjections {
		if masters[name] != flushed {
			assert.Equal(t, gens[name], rdb.Get(ctx, projections.KeysOf(name).Generation()).Val(), "%s kept its generation", name)
		}
		rep, err := projections.Inspect(ctx, rdb, name)
		require.NoError(t, err)
		assert.Equal(t, projections.StateRunning, rep.State, "%s", name)
	}

	// A master crashes and comes back empty (no persistence): the cluster
	// is down meanwhile; then its projections rebuild by themselves.
	crashed := masters[product.ProjectionName]
	require.NoError(t, rc.Masters[crashed].Kill())
	require.NoError(t, rc.Masters[crashed].Restart())
	require.NoError(t, rc.WaitOK())
	m.deposit(c, "acc-03", 7)
	c.command("product", "receive_stock", "pen", map[string]any{"quantity": 20})
	m.products["pen"] += 20
	c.checkEveryQuery(m)
	c.noCrossSlot()
}
