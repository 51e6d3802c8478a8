package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
)

// FuzzLoadYAML feeds arbitrary bytes to Load as the settings file: it must
// never panic, and whatever it accepts must be valid.
func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"writer:\n  workers: 3\n",
		"nats:\n  url: nats://a:4222,tls://b:4222\n  connect_timeout: 2s\n",
		"nats: [1, 2]\n",
		"base: &b {workers: 3}\nwriter: *b\n",
		"writer:\n  <<: {workers: 3}\n",
		"log:\n  level: info\n---\n",
		"redis:\n  url: unix:///run/redis.sock?db=1\n",
		":::",
		"\t",
		"~",
	} {
		f.Add([]byte(seed))
	}
	for _, example := range []string{"examples/local.yaml", "examples/compose.yaml"} {
		data, err := os.ReadFile(example)
		require.NoError(f, err)
		f.Add(data)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		p := filepath.Join(dir, "c.yaml")
		require.NoError(t, os.WriteFile(p, body, 0o600))
		cfg, err := config.Load([]string{"-config", p}, func(string) string { return "" })
		if err == nil {
			require.NoError(t, cfg.Validate())
		}
	})
}
