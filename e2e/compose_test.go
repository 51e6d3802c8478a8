package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/jetsource/jetsource/config"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
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
	assert.Contains(t, c.Services["nats"].Command, "-js", "JetStream on")
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
