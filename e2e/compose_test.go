package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
}

// authService is the one-shot service that writes the NATS users.
const authService = "nats-auth"

// The compose file cannot be run here (no Docker engine): check that every
// service runs a binary the Dockerfile builds, with variables the binaries
// read and values they accept; and, running the nats-auth command into a
// folder standing for its volume, that nats-server loads its users and each
// service connects as the user of its role.
func TestComposeMatchesTheBinaries(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(raw, &c))
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
		if svc.Build == "" || name == authService {
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
		})
	}
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
	want, err := permissions.DeploymentOf(cfg, names).For(role, cfg.NATS.User)
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
