package config_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := config.Load(nil, env(nil))
	require.NoError(t, err)
	assert.Equal(t, config.Default(), cfg)
	assert.Equal(t, "nats://127.0.0.1:4222", cfg.NATS.URL)
	assert.Equal(t, "redis://127.0.0.1:6379/0", cfg.Redis.URL)
}

func TestFlagsOverrideEnvOverrideFile(t *testing.T) {
	file := writeFile(t, "nats:\n  url: nats://file:4222\nwriter:\n  workers: 3\nlog:\n  level: warn\nreader:\n  max_wait: 1m\n")
	e := env(map[string]string{"JETSOURCE_CONFIG": file, "NATS_URL": "nats://env:4222", "JETSOURCE_WRITER_WORKERS": "5"})

	cfg, err := config.Load(nil, e)
	require.NoError(t, err)
	assert.Equal(t, "nats://env:4222", cfg.NATS.URL, "env over file")
	assert.Equal(t, 5, cfg.Writer.Workers, "env over file")
	assert.Equal(t, "warn", cfg.Log.Level, "file over default")
	assert.Equal(t, time.Minute, cfg.Reader.MaxWait)

	cfg, err = config.Load([]string{"-nats-url", "nats://flag:4222", "-workers", "7"}, e)
	require.NoError(t, err)
	assert.Equal(t, "nats://flag:4222", cfg.NATS.URL, "flag over env")
	assert.Equal(t, 7, cfg.Writer.Workers)

	both := env(map[string]string{"NATS_URL": "nats://eco:4222", "JETSOURCE_NATS_URL": "nats://ours:4222"})
	cfg, err = config.Load(nil, both)
	require.NoError(t, err)
	assert.Equal(t, "nats://ours:4222", cfg.NATS.URL, "JETSOURCE_ name wins")
}

func TestUnknownYAMLKeyIsNamed(t *testing.T) {
	_, err := config.Load([]string{"-config", writeFile(t, "writer:\n  wrokers: 3\n")}, env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wrokers")
}

func TestEveryBadSettingIsNamed(t *testing.T) {
	cases := map[string]string{
		"JETSOURCE_WRITER_WORKERS":        "writer.workers must be between 1 and 4096, got 0",
		"NATS_URL":                        `nats.url "http://x:1" must use one of the schemes`,
		"REDIS_URL":                       `redis.url "nats://x:1" must use one of the schemes`,
		"JETSOURCE_STORE_REPLICAS":        "store.replicas must be 1, 3 or 5, got 2",
		"JETSOURCE_STORE_STREAM":          `store.stream "EV.ENTS"`,
		"JETSOURCE_LOG_LEVEL":             `log.level must be debug, info, warn or error, got "loud"`,
		"JETSOURCE_LOG_FORMAT":            `log.format must be text or json, got "xml"`,
		"JETSOURCE_READER_DEFAULT_WAIT":   "reader.default_wait 1h0m0s must not exceed reader.max_wait",
		"JETSOURCE_HTTP_LISTEN":           `http.listen "nowhere" must be host:port`,
		"JETSOURCE_PROJECTOR_BATCH_SIZE":  "projector.batch_size must be between 1 and 10000, got 0",
		"JETSOURCE_NATS_CONNECT_TIMEOUT":  `JETSOURCE_NATS_CONNECT_TIMEOUT: "soon" is not a duration`,
		"JETSOURCE_WRITER_SNAPSHOT_EVERY": "writer.snapshot_every must be positive",
	}
	values := map[string]string{
		"JETSOURCE_WRITER_WORKERS": "0", "NATS_URL": "http://x:1", "REDIS_URL": "nats://x:1",
		"JETSOURCE_STORE_REPLICAS": "2", "JETSOURCE_STORE_STREAM": "EV.ENTS", "JETSOURCE_LOG_LEVEL": "loud",
		"JETSOURCE_LOG_FORMAT": "xml", "JETSOURCE_READER_DEFAULT_WAIT": "1h", "JETSOURCE_HTTP_LISTEN": "nowhere",
		"JETSOURCE_PROJECTOR_BATCH_SIZE": "0", "JETSOURCE_NATS_CONNECT_TIMEOUT": "soon", "JETSOURCE_WRITER_SNAPSHOT_EVERY": "0",
	}
	for key, want := range cases {
		t.Run(key, func(t *testing.T) {
			_, err := config.Load(nil, env(map[string]string{key: values[key]}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
	// All problems are reported at once.
	_, err := config.Load(nil, env(map[string]string{"JETSOURCE_WRITER_WORKERS": "0", "JETSOURCE_LOG_LEVEL": "loud"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "writer.workers")
	assert.Contains(t, err.Error(), "log.level")
}

func TestHelpAndStrayArguments(t *testing.T) {
	_, err := config.Load([]string{"-h"}, env(nil))
	require.True(t, errors.Is(err, flag.ErrHelp))
	_, err = config.Load([]string{"extra"}, env(nil))
	assert.ErrorContains(t, err, "unexpected arguments")
}

func TestSecretsNeverLogged(t *testing.T) {
	cfg, err := config.Load(nil, env(map[string]string{
		"NATS_PASSWORD": "hunter2-pass", "NATS_USER": "u", "NATS_TOKEN": "tok-secret",
		"REDIS_URL": "redis://:redis-secret@127.0.0.1:6379/0",
	}))
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprintf("%+v", cfg.Redacted()), cfg.LogValue().String()} {
		assert.NotContains(t, s, "hunter2-pass")
		assert.NotContains(t, s, "tok-secret")
		assert.NotContains(t, s, "redis-secret")
	}
	assert.Equal(t, "hunter2-pass", cfg.NATS.Password, "Redacted returns a copy")
}

func TestConnectionOptions(t *testing.T) {
	cfg := config.Default()
	cfg.NATS.CredsFile = filepath.Join(t.TempDir(), "user.creds")
	cfg.NATS.TLSCA = filepath.Join(t.TempDir(), "ca.pem")
	opts, err := cfg.NATS.Options()
	require.NoError(t, err)
	assert.Len(t, opts, 6)

	cfg.NATS.NKeySeedFile = "/does/not/exist"
	_, err = cfg.NATS.Options()
	assert.ErrorContains(t, err, "nats.nkey_seed_file")

	ro, err := cfg.Redis.Options()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6379", ro.Addr)
	assert.Equal(t, 3*time.Second, ro.ReadTimeout)
	cfg.Redis.URL = "redis://x:notaport/0"
	_, err = cfg.Redis.Options()
	assert.ErrorContains(t, err, "redis.url")
}

func TestExampleFilesLoad(t *testing.T) {
	for _, f := range []string{"examples/local.yaml", "examples/compose.yaml"} {
		cfg, err := config.Load([]string{"-config", f}, env(nil))
		require.NoError(t, err, f)
		if f == "examples/local.yaml" {
			assert.Equal(t, config.Default(), cfg, "the local example documents the defaults")
		}
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add("writer:\n  workers: 3\n")
	f.Add("nats: [1, 2]\n")
	f.Add(":::")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		cfg, err := config.Load([]string{"-config", p}, env(nil))
		if err == nil {
			require.NoError(t, cfg.Validate())
		}
	})
}
