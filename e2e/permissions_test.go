package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetsource/jetsource/gateway"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/testkit"
)

// securedPlatform is a nats-server started with the authorization block of
// `jetsource nats-config`, and the services, each connecting as its own
// user: a named deployment with its own stream and snapshot bucket, so that
// the permissions are shown to follow the settings.
type securedPlatform struct {
	t       *testing.T
	url     string
	auth    string // the folder nats-config wrote
	nats    *proc
	env     []string
	writer  *proc
	proj    *proc
	reader  *proc
	gateway *proc
	// readerOps is the reader's health listener (http.listen).
	readerOps string
	// http is the gateway's address; its bearer tokens are in tokens.
	http   string
	tokens map[string]string // name -> token
}

// The deployment the secured platform runs.
var securedSettings = []string{
	"JETSOURCE_DEPLOYMENT_NAME=shop",
	"JETSOURCE_STORE_STREAM=SHOP_EVENTS",
	"JETSOURCE_STORE_SNAPSHOT_BUCKET=SHOP_SNAPSHOTS",
	"JETSOURCE_WRITER_SNAPSHOT_EVERY=2", // snapshots are written and read
}

// startSecuredPlatform starts it with securedSettings and settings (the
// same for nats-config and the services).
func startSecuredPlatform(t *testing.T, settings ...string) *securedPlatform {
	bin := binaries(t)
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	settings = append(slices.Clone(securedSettings), settings...)
	gen := exec.Command(filepath.Join(bin, "jetsource"), "nats-config", "-clients", "alice,bob", "-out", auth)
	gen.Env = append(os.Environ(), settings...)
	out, err := gen.CombinedOutput()
	require.NoError(t, err, "nats-config: %s", out)

	addr := freeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf("host: %s\nport: %s\njetstream {\n  store_dir: %q\n}\ninclude auth/authorization.conf\n",
		host, port, filepath.Join(dir, "js"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600))
	p := &securedPlatform{t: t, url: "nats://" + addr, auth: auth}
	p.nats = start(t, "nats-server", filepath.Join(bin, "nats-server"), nil, "-c", filepath.Join(dir, "nats.conf"))

	rd := testkit.StartRedis(t)
	p.http, p.readerOps = freeAddr(t), freeAddr(t)
	tokensFile := gatewayTokens(t, dir, p)
	p.env = append([]string{"NATS_URL=" + p.url, "REDIS_URL=" + rd.URL, "JETSOURCE_LOG_LEVEL=info",
		"JETSOURCE_HTTP_GATEWAY_LISTEN=" + p.http, "JETSOURCE_GATEWAY_TOKENS_FILE=" + tokensFile,
		"JETSOURCE_GATEWAY_READ_TIMEOUT=500ms"}, settings...)
	p.writer = p.run("writer", "writer-shop")
	p.proj = p.run("projector", "projector-shop")
	p.reader = p.run("reader", "reader-shop")
	p.gateway = p.run("gateway", "gateway-shop")
	return p
}

// run starts a service binary connecting as user, with the settings file
// nats-config wrote for it.
func (p *securedPlatform) run(name, user string) *proc {
	return start(p.t, name, filepath.Join(binaries(p.t), name), p.envOf(name, user))
}

// envOf is the environment of service name running as user.
func (p *securedPlatform) envOf(name, user string) []string {
	env := append([]string{"JETSOURCE_CONFIG=" + filepath.Join(p.auth, user+".yaml")}, p.env...)
	if name == "reader" {
		env = append(env, "JETSOURCE_HTTP_LISTEN="+p.readerOps)
	}
	return env
}

// healthcheck runs `<name> healthcheck` as Docker would, in the service's
// environment.
func (p *securedPlatform) healthcheck(name, user string) error {
	cmd := exec.Command(filepath.Join(binaries(p.t), name), "healthcheck")
	cmd.Env = p.envOf(name, user)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// user is a connection as one of the generated users, with the
// asynchronous errors the server sent it (a permissions violation is one).
type user struct {
	t      *testing.T
	nc     *nats.Conn
	errors chan error
}

func (p *securedPlatform) connect(name string) *user {
	t := p.t
	cfg, err := config.Load([]string{"-config", filepath.Join(p.auth, name+".yaml")}, func(string) string { return "" })
	require.NoError(t, err)
	opts, err := cfg.NATS.Options()
	require.NoError(t, err)
	u := &user{t: t, errors: make(chan error, 100)}
	opts = append(opts, nats.Name(name), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case u.errors <- err:
		default:
		}
	}))
	testkit.Eventually(t, 20*time.Second, func() bool {
		u.nc, err = nats.Connect(p.url, opts...)
		return err == nil
	}, "connected as %s", name)
	t.Cleanup(u.nc.Close)
	return u
}

// violation waits for the server to refuse subject to u.
func (u *user) violation(what, subject string) {
	u.t.Helper()
	want := fmt.Sprintf("permissions violation for %s to %q", what, subject)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-u.errors:
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
				return
			}
		case <-deadline:
			u.t.Fatalf("the server did not refuse: %s", want)
		}
	}
}

// request sends a command or query and returns the reply's body, failing
// on an error reply.
func (u *user) request(subject, body string) json.RawMessage {
	u.t.Helper()
	msg, err := u.nc.Request(subject, []byte(body), 10*time.Second)
	require.NoError(u.t, err, "%s %s", subject, body)
	require.Empty(u.t, msg.Header.Get(micro.ErrorCodeHeader), "%s %s: %s", subject, body, msg.Data)
	return msg.Data
}

func (u *user) refused(subject, body, status string) {
	u.t.Helper()
	msg, err := u.nc.Request(subject, []byte(body), 10*time.Second)
	require.NoError(u.t, err, "%s %s", subject, body)
	require.Equal(u.t, status, msg.Header.Get(micro.ErrorCodeHeader), "%s %s: %s", subject, body, msg.Data)
}

func sequenceOf(t *testing.T, raw json.RawMessage) uint64 {
	var r reply
	require.NoError(t, json.Unmarshal(raw, &r))
	return r.Sequence
}

// violations are the permissions violations in the server's log.
var violations = regexp.MustCompile(`(?m)^.*Violation.*$`)

func TestServicesRunWithTheirOwnPermissionsAndAClientOnlySendsCommandsAndQueries(t *testing.T) {
	p := startSecuredPlatform(t)
	alice, bob, admin := p.connect("alice"), p.connect("bob"), p.connect("admin-shop")
	testkit.Eventually(t, 60*time.Second, func() bool {
		_, e1 := alice.nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		_, e2 := alice.nc.Request("query.account.get", []byte(`{}`), time.Second)
		return e1 == nil && e2 == nil
	}, "services up")

	// A workload that touches every permission the services need: appends,
	// loads with snapshots, idempotent resends, unique usernames, refusals
	// confirmed on the leader, read-your-writes, discovery, a rebuild.
	alice.request("cmd.account.open", `{"aggregate_id":"acc-1","data":{"owner":"alice"}}`)
	var last uint64
	for i := range 5 {
		last = sequenceOf(t, alice.request("cmd.account.deposit", fmt.Sprintf(`{"aggregate_id":"acc-1","command_id":"dep-%d","data":{"amount":10}}`, i)))
	}
	alice.request("cmd.account.deposit", `{"aggregate_id":"acc-1","command_id":"dep-0","data":{"amount":10}}`)
	alice.refused("cmd.account.withdraw", `{"aggregate_id":"acc-1","data":{"amount":1000}}`, "422")
	alice.refused("cmd.account.deposit", `{"aggregate_id":"acc-1","expected_version":1,"data":{"amount":1}}`, "409")
	alice.refused("cmd.account.deposit", `{"aggregate_id":"nobody","data":{"amount":1}}`, "404")
	bob.request("cmd.user.register", `{"aggregate_id":"u-bob","data":{"username":"bob","password":"correct horse battery"}}`)
	alice.refused("cmd.user.register", `{"aggregate_id":"u-eve","data":{"username":"bob","password":"another one"}}`, "409")
	alice.request("cmd.order.place", `{"aggregate_id":"o-1"}`)
	alice.request("cmd.order.add_item", `{"aggregate_id":"o-1","data":{"item_id":"pen","quantity":2}}`)
	last = max(last, sequenceOf(t, alice.request("cmd.product.register", `{"aggregate_id":"pen","data":{"name":"Pen"}}`)))
	got := alice.request("query.account.get", fmt.Sprintf(`{"id":"acc-1","min_sequence":%d}`, last))
	assert.Contains(t, string(got), `"balance":50`)
	assert.Contains(t, string(bob.request("query.user.get", `{"username":"bob"}`)), `"username":"bob"`)

	// Discovery and a rebuild, as the admin.
	_, err := admin.nc.Request("$SRV.PING", nil, 5*time.Second)
	require.NoError(t, err)
	msg, err := admin.nc.Request("jetsource.shop.projector.rebuild.accounts", nil, 30*time.Second)
	require.NoError(t, err)
	assert.JSONEq(t, `{"rebuilt":"accounts"}`, string(msg.Data))
	got = alice.request("query.account.get", `{"id":"acc-1"}`)
	assert.Contains(t, string(got), `"balance":50`)

	// The reader is ready by its own healthcheck: its /readyz reads how
	// many events each projection has still to apply from the info of the
	// projector's consumers, which its user may read.
	testkit.Eventually(t, 30*time.Second, func() bool { return p.healthcheck("reader", "reader-shop") == nil },
		"the reader's healthcheck passes")
	require.NoError(t, p.healthcheck("reader", "reader-shop"))

	// They stop cleanly, and nothing they did was refused.
	for _, s := range []*proc{p.gateway, p.reader, p.proj, p.writer} {
		s.stop(t)
	}
	require.Empty(t, violations.FindAllString(p.nats.out.String(), -1), "the services ran without a permissions violation")

	p.writer = p.run("writer", "writer-shop")
	p.proj = p.run("projector", "projector-shop")
	p.reader = p.run("reader", "reader-shop")
	testkit.Eventually(t, 60*time.Second, func() bool {
		_, e1 := alice.nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		_, e2 := alice.nc.Request("query.account.get", []byte(`{}`), time.Second)
		return e1 == nil && e2 == nil
	}, "services up again")

	// A client cannot forge an event.
	require.NoError(t, alice.nc.Publish("events.account.acc-1", []byte(`{"amount":1000000}`)))
	alice.violation("publish", "events.account.acc-1")
	// It cannot read commands (bob's password), events, or anyone's replies.
	for _, subject := range []string{"cmd.>", "cmd.user.register", "events.>", "_INBOX.>", "_INBOX.bob.>"} {
		_, err := alice.nc.SubscribeSync(subject)
		require.NoError(t, err)
		alice.violation("subscription", subject)
	}
	// It cannot rebuild, nor talk to JetStream.
	for _, subject := range []string{"jetsource.shop.projector.rebuild.accounts", "jetsource.projector.rebuild.accounts", "$JS.API.STREAM.INFO.SHOP_EVENTS"} {
		_, err := alice.nc.Request(subject, nil, time.Second)
		require.Error(t, err)
		alice.violation("publish", subject)
	}
	// Nor through a service, naming an event subject as a query's reply.
	require.NoError(t, alice.nc.PublishMsg(&nats.Msg{Subject: "query.account.get", Reply: "events.account.acc-1", Data: []byte(`{"id":"acc-1"}`)}))

	// And its commands and queries still work: the forged deposit is not
	// there, the account answers as before.
	last = sequenceOf(t, alice.request("cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1}}`))
	got = alice.request("query.account.get", fmt.Sprintf(`{"id":"acc-1","min_sequence":%d}`, last))
	assert.Contains(t, string(got), `"balance":51`)
	assert.Contains(t, string(got), `"version":7`)
	testkit.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(p.nats.out.String(), `user:reader-shop" - Publish Violation - Subject "events.account.acc-1"`)
	}, "the reader is refused an answer on an event subject")
	js, err := jetstream.New(admin.nc)
	require.NoError(t, err)
	stream, err := js.Stream(t.Context(), "SHOP_EVENTS")
	require.NoError(t, err)
	head, err := stream.GetLastMsgForSubject(t.Context(), "events.account.acc-1")
	require.NoError(t, err)
	assert.Equal(t, "7", head.Header.Get("Es-Version"), "the last event of acc-1 is alice's deposit: nothing forged was stored")

	// The writer may publish events: a command whose reply subject is an
	// event subject is not run, and nothing is written there.
	require.NoError(t, alice.nc.PublishMsg(&nats.Msg{Subject: "cmd.account.deposit", Reply: "events.account.acc-1",
		Data: []byte(`{"aggregate_id":"acc-1","data":{"amount":1}}`)}))
	last = sequenceOf(t, alice.request("cmd.account.deposit", `{"aggregate_id":"acc-1","data":{"amount":1}}`))
	head, err = stream.GetLastMsgForSubject(t.Context(), "events.account.acc-1")
	require.NoError(t, err)
	assert.Equal(t, "8", head.Header.Get("Es-Version"), "only alice's second deposit was stored after the first: %s", head.Data)
	assert.Equal(t, last, head.Sequence)
	for _, line := range violations.FindAllString(p.nats.out.String(), -1) {
		refusedReply := strings.Contains(line, "user:reader-shop") && strings.Contains(line, `Subject "events.account.acc-1"`)
		assert.True(t, strings.Contains(line, "user:alice") || refusedReply, "only alice was refused (and the reader, told to answer on an event subject): %s", line)
	}
}

// An admin (who may publish events) forges an event with a repeated
// version: commands on the account are refused with a 500 naming it, the
// accounts projection stops on it, and the documented correction
// (jetsource void, then a rebuild) restores service. Nothing is deleted.
func TestForgedEventIsRefusedAndTheDocumentedCorrectionRestoresService(t *testing.T) {
	p := startSecuredPlatform(t)
	alice, admin := p.connect("alice"), p.connect("admin-shop")
	testkit.Eventually(t, 60*time.Second, func() bool {
		_, e1 := alice.nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		_, e2 := alice.nc.Request("query.account.get", []byte(`{}`), time.Second)
		return e1 == nil && e2 == nil
	}, "services up")
	alice.request("cmd.account.open", `{"aggregate_id":"f-1","data":{"owner":"ada"}}`)
	alice.request("cmd.account.deposit", `{"aggregate_id":"f-1","data":{"amount":10}}`)

	js, err := jetstream.New(admin.nc)
	require.NoError(t, err)
	forged := nats.NewMsg("events.account.f-1")
	forged.Header.Set("Es-Type", "MoneyDeposited")
	forged.Header.Set("Es-Version", "2")
	forged.Data = []byte(`{"amount":1000000}`)
	ack, err := js.PublishMsg(t.Context(), forged)
	require.NoError(t, err)

	msg, err := alice.nc.Request("cmd.account.withdraw", []byte(`{"aggregate_id":"f-1","data":{"amount":500000}}`), 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "500", msg.Header.Get(micro.ErrorCodeHeader), "%s", msg.Data)
	assert.Contains(t, string(msg.Data), fmt.Sprintf("at sequence %d has version 2", ack.Sequence), "the refusal names the event")
	testkit.Eventually(t, 20*time.Second, func() bool {
		return strings.Contains(p.proj.out.String(), "projection stopped on an event it cannot apply")
	}, "the projection stops on the forged event")

	// The correction, as the README documents it: void, then rebuild.
	void := exec.Command(filepath.Join(binaries(t), "jetsource"), "void", "-reason", "forged deposit, incident 7",
		"account", "f-1", fmt.Sprint(ack.Sequence))
	void.Env = append(append(os.Environ(), "JETSOURCE_CONFIG="+filepath.Join(p.auth, "admin-shop.yaml"), "NATS_URL="+p.url), securedSettings...)
	out, err := void.CombinedOutput()
	require.NoError(t, err, "jetsource void: %s", out)
	rebuilt, err := admin.nc.Request("jetsource.shop.projector.rebuild.accounts", nil, 60*time.Second)
	require.NoError(t, err)
	require.Empty(t, rebuilt.Header.Get(micro.ErrorCodeHeader), "%s", rebuilt.Data)

	alice.refused("cmd.account.withdraw", `{"aggregate_id":"f-1","data":{"amount":500000}}`, "422")
	last := sequenceOf(t, alice.request("cmd.account.withdraw", `{"aggregate_id":"f-1","data":{"amount":10}}`))
	got := alice.request("query.account.get", fmt.Sprintf(`{"id":"f-1","min_sequence":%d}`, last))
	assert.Contains(t, string(got), `"balance":0`)
	stream, err := js.Stream(t.Context(), "SHOP_EVENTS")
	require.NoError(t, err)
	still, err := stream.GetMsg(t.Context(), ack.Sequence)
	require.NoError(t, err, "the forged event is still in the stream: nothing is deleted")
	assert.Equal(t, "2", still.Header.Get("Es-Version"))
}

// gatewayTokens writes the gateway's tokens file: "teller" may send account
// commands and queries, "auditor" only queries, "operator" anything.
func gatewayTokens(t *testing.T, dir string, p *securedPlatform) string {
	t.Helper()
	p.tokens = map[string]string{}
	var b strings.Builder
	b.WriteString("tokens:\n")
	for name, scopes := range map[string]string{"teller": "[cmd:account, query:account]", "auditor": "[query:*]", "operator": "[admin]"} {
		token, err := gateway.NewToken()
		require.NoError(t, err)
		hash, err := gateway.HashToken(token)
		require.NoError(t, err)
		p.tokens[name] = token
		fmt.Fprintf(&b, "  - name: %s\n    hash: %s\n    scopes: %s\n", name, hash, scopes)
	}
	file := filepath.Join(dir, "gateway-tokens.yaml")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	return file
}

// The gateway, running as its own NATS user, asks for a token: none is
// 401, a token without the route's scope 403, the right one 200; and a body
// sent one byte at a time is cut off by its read timeout.
func TestGatewayOfTheSecuredDeploymentAuthenticatesItsCallers(t *testing.T) {
	p := startSecuredPlatform(t)
	post := func(token, body string) int {
		req, err := http.NewRequest("POST", "http://"+p.http+"/v1/commands/account/open", strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testkit.Eventually(t, 60*time.Second, func() bool {
		return post(p.tokens["teller"], `{"aggregate_id":"g-0","data":{"owner":"ada"}}`) == http.StatusOK
	}, "the gateway forwards the teller's command")
	assert.Equal(t, http.StatusUnauthorized, post("", `{"aggregate_id":"g-1","data":{"owner":"ada"}}`))
	assert.Equal(t, http.StatusUnauthorized, post("not-a-token", `{"aggregate_id":"g-1","data":{"owner":"ada"}}`))
	assert.Equal(t, http.StatusForbidden, post(p.tokens["auditor"], `{"aggregate_id":"g-1","data":{"owner":"ada"}}`))
	assert.Equal(t, http.StatusOK, post(p.tokens["teller"], `{"aggregate_id":"g-1","data":{"owner":"ada"}}`))

	// Slow-loris: the headers, then a body one byte every 100 ms.
	conn, err := net.Dial("tcp", p.http)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/commands/account/open HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n", p.tokens["teller"])
	cut := make(chan bool, 1)
	go func() {
		for range 100 { // 10 s of trickle at most, against a read timeout of 500 ms
			if _, err := conn.Write([]byte("x")); err != nil {
				cut <- true
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		cut <- false
	}()
	assert.True(t, <-cut, "a body trickling in one byte at a time held the connection for 10 s")
}

// The event browser of the secured deployment: its gateway, as its own NATS
// user with gateway.browser on, reads an aggregate's events and its state at
// a version, the projections (from the projector) and the live events,
// without one permissions violation; the auditor's token may not.
func TestEventBrowserOfTheSecuredDeploymentReadsWithItsOwnPermissions(t *testing.T) {
	p := startSecuredPlatform(t, "JETSOURCE_GATEWAY_BROWSER=true")
	alice := p.connect("alice")
	testkit.Eventually(t, 60*time.Second, func() bool {
		_, e1 := alice.nc.Request("cmd.order.place", []byte(`{}`), time.Second)
		_, e2 := alice.nc.Request("query.order.get", []byte(`{}`), time.Second)
		return e1 == nil && e2 == nil
	}, "services up")
	alice.request("cmd.order.place", `{"aggregate_id":"7dd8"}`)
	alice.request("cmd.order.add_item", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":3}}`)
	last := sequenceOf(t, alice.request("cmd.user.register", `{"aggregate_id":"u-ada","data":{"username":"ada","password":"correct horse battery"}}`))
	base := "http://" + p.http + "/v1/admin/"
	get := func(token, path string) (int, string) {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, body := get(p.tokens["auditor"], "aggregates/order/7dd8/events")
	assert.Equal(t, http.StatusForbidden, status, body)
	status, body = get(p.tokens["operator"], "aggregates/order/7dd8/events")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"type":"OrderItemAdded"`)
	status, body = get(p.tokens["operator"], "aggregates/order/7dd8/state?version=2")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"items":[{"item_id":"9a37","quantity":3}]`)
	// The user's personal fields are opened with the key bucket.
	status, body = get(p.tokens["operator"], "aggregates/user/u-ada/events")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"username":"ada"`)
	testkit.Eventually(t, 20*time.Second, func() bool {
		status, body = get(p.tokens["operator"], "projections")
		return status == http.StatusOK && strings.Count(body, `"lag":0`) == 5 && strings.Contains(body, fmt.Sprintf(`"stream_last_sequence":%d`, last))
	}, "the projector reports five projections at lag 0: %d %s", status, body)

	req, err := http.NewRequest("GET", base+"live", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.tokens["operator"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := bufio.NewScanner(resp.Body)
	require.True(t, lines.Scan())
	require.Equal(t, "event: ready", lines.Text())
	next := sequenceOf(t, alice.request("cmd.order.add_item", `{"aggregate_id":"7dd8","data":{"item_id":"a974","quantity":10}}`))
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "id: ") {
	}
	assert.Equal(t, fmt.Sprintf("id: %d", next), lines.Text(), "the live event")
	require.True(t, lines.Scan())
	assert.Contains(t, lines.Text(), `"item_id":"a974"`)
	resp.Body.Close()

	for _, s := range []*proc{p.gateway, p.reader, p.proj, p.writer} {
		s.stop(t)
	}
	require.Empty(t, violations.FindAllString(p.nats.out.String(), -1), "the event browser ran without a permissions violation")
}
