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
	"gopkg.in/yaml.v3"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/gateway"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// The compose file cannot be run here (no Docker engine): check that every
// service runs a binary the Dockerfile builds, with variables the binaries
// read and values they accept.
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

	for _, name := range []string{"nats", "redis", "writer", "projector", "reader", "gateway"} {
		require.Contains(t, c.Services, name)
	}
	checkNATSConfig(t, c)
	checkGatewayTokens(t, c)
	for name, svc := range c.Services {
		if svc.Build == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, svc.Command)
			bin := filepath.Base(svc.Command[0])
			assert.True(t, built[bin], "%s runs %s, which cmd/ does not build", name, bin)
			env := map[string]string{}
			for k, v := range svc.Environment {
				assert.True(t, known[k], "%s sets %s, which no binary reads", name, k)
				env[k] = v
			}
			// The settings must load and validate as the binary would.
			_, err := config.Load(svc.Command[1:], func(k string) string { return env[k] })
			require.NoError(t, err)
			// And the binary itself accepts the flags (-h lists them).
			out, _ := exec.Command(filepath.Join(binaries(t), bin), "-h").CombinedOutput()
			for _, arg := range svc.Command[1:] {
				if strings.HasPrefix(arg, "-") {
					assert.Contains(t, string(out), strings.TrimLeft(strings.SplitN(arg, "=", 2)[0], "-"))
				}
			}
		})
	}
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
// repository, with nats-server's own parser: JetStream on, with sync always
// (acknowledged means on disk).
func checkNATSConfig(t *testing.T, c compose) {
	t.Helper()
	svc := c.Services["nats"]
	i := slices.Index(svc.Command, "-c")
	require.True(t, i >= 0 && i+1 < len(svc.Command), "nats runs with a config file (-c)")
	inContainer := svc.Command[i+1]
	onHost := mountedFrom(svc.Volumes, inContainer)
	require.NotEmpty(t, onHost, "the nats config %s is mounted from the repository", inContainer)
	opts, err := server.ProcessConfigFile(onHost)
	require.NoError(t, err)
	assert.True(t, opts.JetStream, "JetStream on")
	assert.True(t, opts.SyncAlways, "JetStream syncs every write (sync: always)")
	assert.Equal(t, 4222, opts.Port)
}
