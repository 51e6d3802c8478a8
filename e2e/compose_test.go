package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/permissions"
)

type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       string                       `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	Volumes     []string                     `yaml:"volumes"`
	Restart     string                       `yaml:"restart"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
}

type composeHealthcheck struct {
	Test []string `yaml:"test"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

// authService is the one-shot service that writes the NATS users.
const authService = "nats-auth"

// jetsourceImage is the one image every jetsource service runs.
const jetsourceImage = "jetsource:local"

func loadCompose(t *testing.T) compose {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(raw, &c))
	return c
}

// The compose file cannot be run here (no Docker engine): check that every
// service runs a binary the Dockerfile builds, with variables the binaries
// read and values they accept; and, running the nats-auth command into a
// folder standing for its volume, that nats-server loads its users and each
// service connects as the user of its role.
func TestComposeMatchesTheBinaries(t *testing.T) {
	c := loadCompose(t)
	known := map[string]bool{}
	for _, v := range config.EnvNames() {
		known[v] = true
	}
	built := map[string]bool{}
	entries, err := os.ReadDir("../cmd")
	require.NoError(t, err)
	for _, e := range entries {
		built[e.Name()] = true
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	assert.Contains(t, string(dockerfile), "./cmd/...", "the Dockerfile builds every command")
	assert.Contains(t, string(dockerfile), "USER nonroot", "runs as non-root")

	for _, name := range []string{"nats", "redis", "writer", "projector", "reader", "gateway", authService} {
		require.Contains(t, c.Services, name)
	}
	volumes := map[string]string{}
	for name := range c.Volumes {
		volumes[name] = t.TempDir()
	}
	runAuth(t, c.Services[authService], volumes)
	users := checkNATSConfig(t, c, volumes)
	checkGatewayTokens(t, c)
	for name, svc := range c.Services {
		if svc.Image != jetsourceImage || name == authService {
			continue
		}
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, svc.Command)
			bin := filepath.Base(svc.Command[0])
			assert.True(t, built[bin], "%s runs %s, which cmd/ does not build", name, bin)
			root := containerFS(t, svc, volumes)
			env := map[string]string{}
			for k, v := range svc.Environment {
				assert.True(t, known[k], "%s sets %s, which no binary reads", name, k)
				env[k] = v
			}
			if f, ok := env["JETSOURCE_CONFIG"]; ok {
				env["JETSOURCE_CONFIG"] = filepath.Join(root, f)
			}
			// The settings must load and validate as the binary would.
			cfg, err := config.Load(svc.Command[1:], func(k string) string { return env[k] })
			require.NoError(t, err)
			checkFlags(t, bin, svc.Command[1:])
			checkUser(t, name, cfg, users)
			checkHealthcheck(t, bin, svc, env)
		})
	}
}

// The compose file comes up by itself from cold: one image built once,
// every long-running service restarted when it exits and with a
// healthcheck, and each started only once what it needs is healthy.
func TestComposeComesUpInOrderAndStaysUp(t *testing.T) {
	c := loadCompose(t)
	var builders []string
	for name, svc := range c.Services {
		if svc.Build != "" {
			builders = append(builders, name)
			assert.Equal(t, jetsourceImage, svc.Image, "%s tags the image it builds", name)
		}
		if strings.HasPrefix(svc.Command[0], "/usr/local/bin/") {
			assert.Equal(t, jetsourceImage, svc.Image, "%s runs the one jetsource image", name)
		}
		for dep, d := range svc.DependsOn {
			require.Contains(t, c.Services, dep, "%s depends on %s", name, dep)
			want := "service_healthy"
			if dep == authService {
				want = "service_completed_successfully"
			}
			assert.Equal(t, want, d.Condition, "%s waits for %s", name, dep)
		}
		if name == authService {
			assert.Empty(t, svc.Restart, "the one-shot nats-auth is not restarted")
			continue
		}
		assert.Equal(t, "unless-stopped", svc.Restart, "%s is restarted when it exits", name)
		require.NotNil(t, svc.Healthcheck, "%s has a healthcheck", name)
		require.NotEmpty(t, svc.Healthcheck.Test, "%s has a healthcheck", name)
		assert.Equal(t, "CMD", svc.Healthcheck.Test[0], "%s: the healthcheck runs a program, no shell", name)
		if svc.Image == jetsourceImage {
			assert.Equal(t, []string{"CMD", svc.Command[0], "healthcheck"}, svc.Healthcheck.Test,
				"%s checks itself with its binary's healthcheck subcommand", name)
			assert.Contains(t, svc.DependsOn, "nats", "%s waits for NATS", name)
			if svc.Environment["REDIS_URL"] != "" {
				assert.Contains(t, svc.DependsOn, "redis", "%s waits for Redis", name)
			}
		}
	}
	assert.Equal(t, []string{authService}, builders, "one service builds the image, once")
	assert.Equal(t, map[string]composeDependency{"nats": {"service_healthy"}, "writer": {"service_healthy"}, "reader": {"service_healthy"}},
		c.Services["gateway"].DependsOn, "the gateway waits for the services it sends to")
	assert.Equal(t, []string{"CMD", "redis-cli", "ping"}, c.Services["redis"].Healthcheck.Test)

	// NATS is healthy once JetStream is, on the monitoring port its config
	// file opens.
	volumes := map[string]string{}
	for name := range c.Volumes {
		volumes[name] = t.TempDir()
	}
	runAuth(t, c.Services[authService], volumes)
	nats := c.Services["nats"]
	opts, err := server.ProcessConfigFile(filepath.Join(containerFS(t, nats, volumes), nats.Command[slices.Index(nats.Command, "-c")+1]))
	require.NoError(t, err)
	probe := nats.Healthcheck.Test[len(nats.Healthcheck.Test)-1]
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", opts.HTTPPort), probe)
}

// Where a Docker engine answers, the compose file comes up from cold with
// `docker compose up --wait` (every healthcheck passing), and a command and
// a query go through the gateway.
func TestComposeRunsWhereDockerIs(t *testing.T) {
	runCompose(t)
}

// checkHealthcheck runs the service's healthcheck as Docker would, with
// nothing listening: it must ask the /readyz of the listener the service
// opens (not fail for want of one), on loopback.
func checkHealthcheck(t *testing.T, bin string, svc composeService, env map[string]string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), bin), "healthcheck")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	listen := env["JETSOURCE_HTTP_LISTEN"]
	if listen == "" {
		listen = env["JETSOURCE_HTTP_GATEWAY_LISTEN"]
	}
	require.NotEmpty(t, listen, "the service opens an HTTP listener for its healthcheck")
	_, port, perr := net.SplitHostPort(listen)
	require.NoError(t, perr)
	if err != nil {
		assert.Contains(t, string(out), "GET http://127.0.0.1:"+port+"/readyz", "the healthcheck asks the service's own /readyz")
	}
}

// runCompose brings the compose file up where a Docker engine answers, and
// sends a command and a query through the gateway.
func runCompose(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command: the compose file was checked against the binaries, not run")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine (docker info: %v: %s): the compose file was checked against the binaries, not run", err, lastLine(out))
	}
	project := "jetsource-test-" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()))
	compose := func(args ...string) *exec.Cmd {
		cmd := exec.Command("docker", append([]string{"compose", "-p", project}, args...)...)
		cmd.Dir = ".."
		return cmd
	}
	t.Cleanup(func() { _ = compose("down", "-v", "--remove-orphans").Run() })
	out, err := compose("up", "-d", "--build", "--wait", "--wait-timeout", "300").CombinedOutput()
	require.NoError(t, err, "docker compose up --wait: %s", out)

	const token = "jst_compose_development_token_replace_it"
	send := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	id := "compose-" + fmt.Sprint(time.Now().UnixNano())
	status, body := send("POST", "/v1/commands/account/open", `{"aggregate_id":"`+id+`","data":{"owner":"ada"}}`)
	require.Equal(t, http.StatusOK, status, body)
	var reply struct{ Sequence uint64 }
	require.NoError(t, json.Unmarshal([]byte(body), &reply))
	status, body = send("GET", fmt.Sprintf("/v1/queries/account/get?id=%s&min_sequence=%d", id, reply.Sequence), "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"owner":"ada"`)
}

// lastLine is the last line of a command's output: docker's error.
func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndex(s, "\n")+1:]
}

// checkFlags checks that the binary accepts the flags (-h lists them).
func checkFlags(t *testing.T, bin string, args []string, sub ...string) {
	t.Helper()
	out, _ := exec.Command(filepath.Join(binaries(t), bin), append(sub, "-h")...).CombinedOutput()
	for _, arg := range args {
		if strings.HasPrefix(arg, "-") {
			assert.Contains(t, string(out), strings.TrimLeft(strings.SplitN(arg, "=", 2)[0], "-"))
		}
	}
}

// containerFS returns a folder standing for the root of svc's container:
// each of its volumes, named or from the repository, linked at its path.
func containerFS(t *testing.T, svc composeService, volumes map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, "volume %s", v)
		src, ok := volumes[parts[0]]
		if !ok {
			abs, err := filepath.Abs(filepath.Join("..", parts[0]))
			require.NoError(t, err)
			src = abs
		}
		dst := filepath.Join(root, parts[1])
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.Symlink(src, dst))
	}
	return root
}

// runAuth runs the nats-auth service's command, its paths in its container.
func runAuth(t *testing.T, svc composeService, volumes map[string]string) {
	t.Helper()
	require.GreaterOrEqual(t, len(svc.Command), 2)
	require.Equal(t, "jetsource", filepath.Base(svc.Command[0]))
	require.Equal(t, "nats-config", svc.Command[1])
	checkFlags(t, "jetsource", svc.Command[2:], "nats-config")
	root := containerFS(t, svc, volumes)
	args := slices.Clone(svc.Command[1:])
	for i, a := range args {
		if filepath.IsAbs(a) {
			args[i] = filepath.Join(root, a)
		}
	}
	cmd := exec.Command(filepath.Join(binaries(t), "jetsource"), args...)
	for k, v := range svc.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", svc.Command, out)
}

// checkUser checks that the service connects as a user of the server with
// the permissions of its role, its password and its inbox prefix.
func checkUser(t *testing.T, service string, cfg config.Config, users map[string]*server.User) {
	t.Helper()
	role, err := permissions.ParseRole(service)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.NATS.User, "%s connects with its own user", service)
	u, ok := users[cfg.NATS.User]
	require.True(t, ok, "%s connects as %s, a user the server does not know", service, cfg.NATS.User)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(cfg.NATS.Password)), "%s's password", service)
	assert.Equal(t, permissions.InboxPrefix(cfg.NATS.User), cfg.NATS.InboxPrefix)
	var names []string
	for _, p := range samples.Projections() {
		names = append(names, p.Name)
	}
	d := permissions.DeploymentOf(cfg, names)
	d.Processes = samples.Platform().ProcessNames()
	want, err := d.For(role, cfg.NATS.User)
	require.NoError(t, err)
	require.NotNil(t, u.Permissions)
	assert.Equal(t, want.Publish, u.Permissions.Publish.Allow, "%s may publish as its role", service)
	assert.Equal(t, want.Subscribe, u.Permissions.Subscribe.Allow, "%s may subscribe as its role", service)
}

// checkGatewayTokens loads the gateway's tokens file, as mounted from the
// repository, as the gateway would: the compose gateway asks for tokens.
func checkGatewayTokens(t *testing.T, c compose) {
	t.Helper()
	svc := c.Services["gateway"]
	inContainer := svc.Environment["JETSOURCE_GATEWAY_TOKENS_FILE"]
	require.NotEmpty(t, inContainer, "the compose gateway asks for tokens")
	onHost := mountedFrom(svc.Volumes, inContainer)
	require.NotEmpty(t, onHost, "the tokens file %s is mounted from the repository", inContainer)
	tokens, err := gateway.LoadTokens(onHost)
	require.NoError(t, err)
	assert.NotEmpty(t, tokens)
}

// mountedFrom is the repository file mounted at inContainer, or "".
func mountedFrom(volumes []string, inContainer string) string {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == inContainer {
			return filepath.Join("..", parts[0])
		}
	}
	return ""
}

// checkNATSConfig parses the nats service's config file, as mounted from the
// repository with the users nats-auth wrote, with nats-server's own parser:
// JetStream on, with sync always (acknowledged means on disk), and users.
func checkNATSConfig(t *testing.T, c compose, volumes map[string]string) map[string]*server.User {
	t.Helper()
	svc := c.Services["nats"]
	i := slices.Index(svc.Command, "-c")
	require.True(t, i >= 0 && i+1 < len(svc.Command), "nats runs with a config file (-c)")
	opts, err := server.ProcessConfigFile(filepath.Join(containerFS(t, svc, volumes), svc.Command[i+1]))
	require.NoError(t, err)
	assert.True(t, opts.JetStream, "JetStream on")
	assert.True(t, opts.SyncAlways, "JetStream syncs every write (sync: always)")
	assert.Equal(t, 4222, opts.Port)
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	assert.Contains(t, users, "admin", "an admin user")
	return users
}
