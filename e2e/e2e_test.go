// Package e2e runs the real binaries as separate processes against a
// nats-server and a redis-server started as processes, as an operator would.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the services and a nats-server from the module, once.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "jetsource-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator),
			"./cmd/writer", "./cmd/projector", "./cmd/reader", "./cmd/gateway", "./cmd/standalone", "./cmd/jetsource", "./cmd/transfers",
			"github.com/nats-io/nats-server/v2")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// proc is a running process with its output kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan error
}

func start(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p, err := launch(t, name, bin, env, args...)
	require.NoError(t, err)
	return p
}

// launch is start without failing the test, for goroutines other than the
// test's own (a restart during chaos): t.Cleanup still kills the process.
func launch(t *testing.T, name, bin string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{name: name, cmd: cmd, out: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		p.done <- err
		require.NoError(t, err, "%s exits 0 on SIGTERM:\n%s", p.name, tail(p.out.String(), 2000))
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

// exited reports, without waiting, whether p has exited, and if so how,
// with the end of its output.
func (p *proc) exited() (string, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Sprintf("%s exited by itself (%v); its output ends with:\n%s", p.name, err, tail(p.out.String(), 1500)), true
	default:
		return "", false
	}
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.sigkill())
}

// sigkill SIGKILLs p and waits until it has exited.
func (p *proc) sigkill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL %s: %w", p.name, err)
	}
	err := <-p.done
	p.done <- err // the cleanup of launch waits on it too
	return nil
}

type platform struct {
	t       *testing.T
	bin     string
	env     []string
	nc      *nats.Conn
	http    string
	writers []*proc
	proj    *proc
}

func startPlatform(t *testing.T) *platform {
	bin := binaries(t)
	natsURL, nc := startNATSServer(t, bin)
	rd := testkit.StartRedis(t)
	gw := freeAddr(t)
	p := &platform{t: t, bin: bin, nc: nc, http: "http://" + gw,
		env: []string{"NATS_URL=" + natsURL, "REDIS_URL=" + rd.URL, "JETSOURCE_HTTP_GATEWAY_LISTEN=" + gw, "JETSOURCE_LOG_LEVEL=info"}}
	p.writers = []*proc{p.run("writer"), p.run("writer")}
	p.proj = p.run("projector")
	p.run("reader")
	p.run("gateway")
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, e1 := nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		_, e2 := nc.Request("query.account.get", []byte(`{}`), time.Second)
		resp, e3 := http.Get(p.http + "/readyz")
		if e3 == nil {
			resp.Body.Close()
		}
		return e1 == nil && e2 == nil && e3 == nil && resp.StatusCode == 200
	}, "services up")
	return p
}

// startNATSServer starts the nats-server binary with JetStream on a free
// port and returns its URL and a connection to it.
func startNATSServer(t *testing.T, bin string) (string, *nats.Conn) {
	natsAddr := freeAddr(t)
	host, port, _ := net.SplitHostPort(natsAddr)
	start(t, "nats-server", filepath.Join(bin, "nats-server"), nil, "-a", host, "-p", port, "-js", "-sd", t.TempDir())
	natsURL := "nats://" + natsAddr
	var nc *nats.Conn
	testkit.Eventually(t, 20*time.Second, func() bool {
		var err error
		nc, err = nats.Connect(natsURL)
		return err == nil
	}, "nats-server up")
	t.Cleanup(nc.Close)
	return natsURL, nc
}

func (p *platform) run(name string, args ...string) *proc {
	return start(p.t, name, filepath.Join(p.bin, name), p.env, args...)
}

type reply struct {
	Version  uint64          `json:"version"`
	Sequence uint64          `json:"sequence"`
	Data     json.RawMessage `json:"data"`
}

// command sends over NATS, retrying with the same command_id until a reply
// says it succeeded (a killed writer may leave a request unanswered).
func (p *platform) command(subject, body string) reply {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msg, err := p.nc.Request(subject, []byte(body), 3*time.Second)
		if err == nil && msg.Header.Get(micro.ErrorCodeHeader) == "" {
			var r reply
			require.NoError(p.t, json.Unmarshal(msg.Data, &r))
			return r
		}
		if err == nil && msg.Header.Get(micro.ErrorCodeHeader) != "503" {
			p.t.Fatalf("%s %s: %s", subject, body, msg.Data)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s %s: no success: %v", subject, body, err)
		}
	}
}

func (p *platform) httpDo(method, path, body string) (int, reply) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.http+path, strings.NewReader(body))
	require.NoError(p.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r reply
	_ = json.Unmarshal(raw, &r)
	return resp.StatusCode, r
}

func TestBinariesEndToEnd(t *testing.T) {
	p := startPlatform(t)

	// Over HTTP: open, deposit, read back with min_sequence.
	status, r := p.httpDo("POST", "/v1/commands/account/open", `{"aggregate_id":"acc-1","data":{"owner":"ada"}}`)
	require.Equal(t, 200, status)
	status, r = p.httpDo("POST", "/v1/commands/account/deposit", `{"aggregate_id":"acc-1","data":{"amount":100}}`)
	require.Equal(t, 200, status)
	status, q := p.httpDo("GET", fmt.Sprintf("/v1/queries/account/get?id=acc-1&min_sequence=%d", r.Sequence), "")
	require.Equal(t, 200, status)
	assert.JSONEq(t, `{"id":"acc-1","owner":"ada","balance":100,"frozen":false,"version":2}`, string(q.Data))
	status, _ = p.httpDo("POST", "/v1/commands/account/withdraw", `{"aggregate_id":"acc-1","data":{"amount":1000}}`)
	assert.Equal(t, 422, status)

	// Over NATS, with traffic while a writer and the projector are killed.
	p.command("cmd.account.open", `{"aggregate_id":"acc-2","command_id":"open-2","data":{"owner":"bob"}}`)
	const deposits = 120
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last uint64
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < deposits; i += 4 {
				r := p.command("cmd.account.deposit", fmt.Sprintf(`{"aggregate_id":"acc-2","command_id":"dep-%d","data":{"amount":%d}}`, i, i+1))
				mu.Lock()
				last = max(last, r.Sequence)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	p.writers[0].kill(t)
	p.proj.kill(t)
	time.Sleep(200 * time.Millisecond)
	p.run("projector")
	wg.Wait()

	msg, err := p.nc.Request("query.account.get", fmt.Appendf(nil, `{"id":"acc-2","min_sequence":%d,"wait_ms":20000}`, last), 30*time.Second)
	require.NoError(t, err)
	require.Empty(t, msg.Header.Get(micro.ErrorCodeHeader), string(msg.Data))
	var got struct {
		Data struct {
			Balance int64  `json:"balance"`
			Version uint64 `json:"version"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(msg.Data, &got))
	assert.Equal(t, int64(deposits*(deposits+1)/2), got.Data.Balance, "every deposit counted exactly once")
	assert.Equal(t, uint64(deposits+1), got.Data.Version)

	// The survivors stop cleanly.
	p.writers[1].stop(t)
}

var runningLine = regexp.MustCompile(`jetsource is running.* http=(http://[0-9.:]+)`)

// waitRunning returns the gateway URL the standalone process logs.
func waitRunning(t *testing.T, p *proc) string {
	t.Helper()
	var url string
	testkit.Eventually(t, 60*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if m := runningLine.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
				return true
			}
		}
		return false
	}, "standalone running")
	return url
}

func TestStandaloneKeepsEventsAcrossRestarts(t *testing.T) {
	bin := binaries(t)
	data := t.TempDir()
	env := []string{"JETSOURCE_STANDALONE_NATS_LISTEN=127.0.0.1:0", "JETSOURCE_HTTP_GATEWAY_LISTEN=127.0.0.1:0", "REDIS_URL="}
	first := start(t, "standalone", filepath.Join(bin, "standalone"), env, "-data-dir", data)
	url := waitRunning(t, first)
	assert.Contains(t, first.out.String(), "read models live in memory")
	post := func(url, path, body string) reply {
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, string(raw))
		var r reply
		require.NoError(t, json.Unmarshal(raw, &r))
		return r
	}
	post(url, "/v1/commands/product/register", `{"aggregate_id":"pen","data":{"name":"Pen"}}`)
	r := post(url, "/v1/commands/product/receive_stock", `{"aggregate_id":"pen","data":{"quantity":7}}`)
	first.stop(t)

	second := start(t, "standalone", filepath.Join(bin, "standalone"), env, "-data-dir", data)
	url = waitRunning(t, second)
	resp, err := http.Get(fmt.Sprintf("%s/v1/queries/product/get?id=pen&min_sequence=%d", url, r.Sequence))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(raw))
	assert.JSONEq(t, `{"data":{"id":"pen","name":"Pen","stock":7,"version":2},"sequence":`+fmt.Sprint(r.Sequence)+`}`, string(raw))
	second.stop(t)
}
