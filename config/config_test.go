package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
)

// env is a getenv over a map, so no test touches the process environment.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaultsLoadWithNothingSet(t *testing.T) {
	cfg, err := config.Load(nil, env(nil))
	require.NoError(t, err)
	assert.Equal(t, config.Default(), cfg)
	assert.NoError(t, config.Default().Validate())
	assert.Equal(t, "nats://127.0.0.1:4222", cfg.NATS.URL)
	assert.Equal(t, "redis://127.0.0.1:6379/0", cfg.Redis.URL)
	assert.Equal(t, "EVENTS", cfg.Store.Stream)
	assert.Equal(t, 64, cfg.Writer.Workers)
	assert.Empty(t, cfg.HTTP.Listen, "health and metrics are off by default")
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	cases := []struct {
		setting          string // YAML path
		envVar, flagName string
		file, env, flag  string
		get              func(config.Config) any
		want             [3]any // file alone, file+env, file+env+flag
	}{
		{"nats.url", "NATS_URL", "nats-url", "nats://file:4222", "nats://env:4222", "nats://flag:4222",
			func(c config.Config) any { return c.NATS.URL },
			[3]any{"nats://file:4222", "nats://env:4222", "nats://flag:4222"}},
		{"redis.url", "JETSOURCE_REDIS_URL", "redis-url", "redis://file:6379/0", "redis://env:6379/1", "redis://flag:6379/2",
			func(c config.Config) any { return c.Redis.URL },
			[3]any{"redis://file:6379/0", "redis://env:6379/1", "redis://flag:6379/2"}},
		{"writer.workers", "JETSOURCE_WRITER_WORKERS", "workers", "3", "5", "7",
			func(c config.Config) any { return c.Writer.Workers }, [3]any{3, 5, 7}},
		{"store.stream", "JETSOURCE_STORE_STREAM", "stream", "FILE", "ENV", "FLAG",
			func(c config.Config) any { return c.Store.Stream }, [3]any{"FILE", "ENV", "FLAG"}},
		{"log.level", "JETSOURCE_LOG_LEVEL", "log-level", "warn", "error", "debug",
			func(c config.Config) any { return c.Log.Level }, [3]any{"warn", "error", "debug"}},
		{"http.listen", "JETSOURCE_HTTP_LISTEN", "http-listen", "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
			func(c config.Config) any { return c.HTTP.Listen }, [3]any{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}},
		{"store.replicas", "JETSOURCE_STORE_REPLICAS", "replicas", "3", "5", "1",
			func(c config.Config) any { return c.Store.Replicas }, [3]any{3, 5, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.setting, func(t *testing.T) {
			section, field, _ := strings.Cut(tc.setting, ".")
			file := writeFile(t, "c.yaml", fmt.Sprintf("%s:\n  %s: %s\n", section, field, tc.file))
			vars := map[string]string{"JETSOURCE_CONFIG": file}

			cfg, err := config.Load(nil, env(vars))
			require.NoError(t, err)
			assert.Equal(t, tc.want[0], tc.get(cfg), "the file overrides the default")

			vars[tc.envVar] = tc.env
			cfg, err = config.Load(nil, env(vars))
			require.NoError(t, err)
			assert.Equal(t, tc.want[1], tc.get(cfg), "the environment overrides the file")

			cfg, err = config.Load([]string{"-" + tc.flagName, tc.flag}, env(vars))
			require.NoError(t, err)
			assert.Equal(t, tc.want[2], tc.get(cfg), "a flag overrides the environment")
		})
	}
}

func TestFlagsNotGivenKeepLowerLayers(t *testing.T) {
	vars := map[string]string{"JETSOURCE_WRITER_WORKERS": "9"}
	cfg, err := config.Load([]string{"-stream", "OTHER"}, env(vars))
	require.NoError(t, err)
	assert.Equal(t, 9, cfg.Writer.Workers)
	assert.Equal(t, "OTHER", cfg.Store.Stream)

	// An empty flag value is a value: it turns health and metrics off.
	vars = map[string]string{"JETSOURCE_HTTP_LISTEN": "127.0.0.1:9090"}
	cfg, err = config.Load([]string{"-http-listen", ""}, env(vars))
	require.NoError(t, err)
	assert.Empty(t, cfg.HTTP.Listen)
}

func TestJetsourceVariableWinsOverEcosystemName(t *testing.T) {
	vars := map[string]string{
		"NATS_URL": "nats://eco:4222", "JETSOURCE_NATS_URL": "nats://ours:4222",
		"REDIS_URL": "redis://eco:6379/0", "JETSOURCE_REDIS_URL": "redis://ours:6379/0",
		"NATS_CREDS": "/eco.creds", "JETSOURCE_NATS_CREDS_FILE": "/ours.creds",
	}
	cfg, err := config.Load(nil, env(vars))
	require.NoError(t, err)
	assert.Equal(t, "nats://ours:4222", cfg.NATS.URL)
	assert.Equal(t, "redis://ours:6379/0", cfg.Redis.URL)
	assert.Equal(t, "/ours.creds", cfg.NATS.CredsFile)
}

func TestEcosystemVariablesAreHonoured(t *testing.T) {
	vars := map[string]string{
		"NATS_URL": "tls://n1:4222,tls://n2:4222", "REDIS_URL": "rediss://r:6380/2",
		"NATS_NKEY": "/run/seed.nk", "NATS_TLS_CERT": "/c.pem", "NATS_TLS_KEY": "/k.pem", "NATS_TLS_CA": "/ca.pem",
	}
	cfg, err := config.Load(nil, env(vars))
	require.NoError(t, err)
	assert.Equal(t, "tls://n1:4222,tls://n2:4222", cfg.NATS.URL)
	assert.Equal(t, "rediss://r:6380/2", cfg.Redis.URL)
	assert.Equal(t, "/run/seed.nk", cfg.NATS.NKeySeedFile)
	assert.Equal(t, [3]string{"/c.pem", "/k.pem", "/ca.pem"}, [3]string{cfg.NATS.TLSCert, cfg.NATS.TLSKey, cfg.NATS.TLSCA})
}

func TestConfigFlagWinsOverConfigVariable(t *testing.T) {
	fromEnv := writeFile(t, "env.yaml", "writer:\n  workers: 2\n")
	fromFlag := writeFile(t, "flag.yaml", "writer:\n  workers: 4\n")
	cfg, err := config.Load([]string{"-config", fromFlag}, env(map[string]string{"JETSOURCE_CONFIG": fromEnv}))
	require.NoError(t, err)
	assert.Equal(t, 4, cfg.Writer.Workers)

	cfg, err = config.Load([]string{"-config", ""}, env(map[string]string{"JETSOURCE_CONFIG": fromEnv}))
	require.NoError(t, err)
	assert.Equal(t, config.Default(), cfg, "-config \"\" reads no file")
}

func TestFileSetsDurationsAndKeepsOtherDefaults(t *testing.T) {
	file := writeFile(t, "c.yaml", "reader:\n  max_wait: 1m\nprojector:\n  retry_backoff: 50ms\n")
	cfg, err := config.Load([]string{"-config", file}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.Reader.MaxWait)
	assert.Equal(t, 50*time.Millisecond, cfg.Projector.RetryBackoff)
	assert.Equal(t, config.Default().Reader.DefaultWait, cfg.Reader.DefaultWait)
}

func TestFileErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "writer:\n  wrokers: 3\n", []string{"line 2: unknown setting writer.wrokers"}},
		{"unknown section", "writers:\n  workers: 3\n", []string{"line 1: unknown setting writers"}},
		{"every unknown key", "nats:\n  uri: x\nlog:\n  colour: red\n", []string{"nats.uri", "log.colour"}},
		{"unknown key through an alias", "base: &b\n  workers: 3\n", []string{"unknown setting base"}},
		{"wrong type", "writer:\n  workers: many\n", []string{"cannot unmarshal", "many"}},
		{"duration without unit", "nats:\n  connect_timeout: 5\n", []string{"time.Duration"}},
		{"not a mapping", "- 1\n- 2\n", []string{"cannot unmarshal"}},
		{"bad syntax", "nats: [\n", []string{"c.yaml"}},
		{"two documents", "log:\n  level: info\n---\nlog:\n  level: debug\n", []string{"more than one YAML document"}},
		{"invalid value", "store:\n  replicas: 2\n", []string{"store.replicas must be 1, 3 or 5, got 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load([]string{"-config", writeFile(t, "c.yaml", tc.body)}, env(nil))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestEmptyFileSetsNothing(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n", "---\n"} {
		cfg, err := config.Load([]string{"-config", writeFile(t, "c.yaml", body)}, env(nil))
		require.NoError(t, err, "%q", body)
		assert.Equal(t, config.Default(), cfg)
	}
}

func TestMissingOrHugeFileIsAnError(t *testing.T) {
	_, err := config.Load([]string{"-config", filepath.Join(t.TempDir(), "absent.yaml")}, env(nil))
	assert.ErrorContains(t, err, "absent.yaml")

	huge := writeFile(t, "huge.yaml", "# "+strings.Repeat("x", 2<<20)+"\n")
	_, err = config.Load([]string{"-config", huge}, env(nil))
	assert.ErrorContains(t, err, "not a settings file")
}

func TestUnparsableVariablesAndFlagsAreNamed(t *testing.T) {
	cases := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"duration variable", nil, map[string]string{"JETSOURCE_NATS_CONNECT_TIMEOUT": "soon"},
			`JETSOURCE_NATS_CONNECT_TIMEOUT: "soon" is not a duration`},
		{"integer variable", nil, map[string]string{"JETSOURCE_WRITER_WORKERS": "lots"},
			`JETSOURCE_WRITER_WORKERS: "lots" is not an integer`},
		{"overflowing integer", nil, map[string]string{"JETSOURCE_STORE_MAX_BATCH": "99999999999999999999"},
			"JETSOURCE_STORE_MAX_BATCH"},
		{"integer flag", []string{"-workers", "x"}, nil, `-workers: "x" is not an integer`},
		{"stray argument", []string{"extra"}, nil, `unexpected arguments ["extra"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(tc.args, env(tc.vars))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValidateNamesEveryBadSetting(t *testing.T) {
	cases := []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"nats url scheme", func(c *config.Config) { c.NATS.URL = "http://x:1" },
			`nats.url "http://x:1" must use one of the schemes nats, tls, ws, wss`},
		{"nats url without scheme", func(c *config.Config) { c.NATS.URL = "127.0.0.1:4222" }, `nats.url "127.0.0.1:4222" is not a URL`},
		{"nats url empty", func(c *config.Config) { c.NATS.URL = "" }, `nats.url "" is not a URL`},
		{"nats url in a list", func(c *config.Config) { c.NATS.URL = "nats://a:4222,http://b:1" }, `nats.url "http://b:1"`},
		{"nats url without host", func(c *config.Config) { c.NATS.URL = "nats:///x" }, "nats.url \"nats:///x\" must name a host"},
		{"two ways to authenticate", func(c *config.Config) { c.NATS.CredsFile, c.NATS.Token = "a.creds", "t" },
			"set one way to authenticate to NATS, got nats.creds_file, nats.token"},
		{"password without user", func(c *config.Config) { c.NATS.Password = "p" }, "nats.password is set without nats.user"},
		{"tls cert without key", func(c *config.Config) { c.NATS.TLSCert = "c.pem" }, "nats.tls_cert and nats.tls_key must be set together"},
		{"connect timeout", func(c *config.Config) { c.NATS.ConnectTimeout = 0 }, "nats.connect_timeout must be a positive duration, got 0s"},
		{"request timeout", func(c *config.Config) { c.NATS.RequestTimeout = -time.Second }, "nats.request_timeout must be a positive duration, got -1s"},
		{"redis url scheme", func(c *config.Config) { c.Redis.URL = "nats://x:1" }, `redis.url "nats://x:1" must use one of the schemes redis, rediss, unix`},
		{"redis bad port", func(c *config.Config) { c.Redis.URL = "redis://x:notaport/0" }, `redis.url "redis://x:notaport/0" is not a URL`},
		{"redis bad db", func(c *config.Config) { c.Redis.URL = "redis://x:6379/abc" }, `redis.url "redis://x:6379/abc"`},
		{"redis unknown option", func(c *config.Config) { c.Redis.URL = "redis://x:6379/0?colour=red" }, "redis.url"},
		{"redis unix without path", func(c *config.Config) { c.Redis.URL = "unix://" }, "must name a socket path"},
		{"redis list without cluster", func(c *config.Config) { c.Redis.URL = "redis://a:6379,redis://b:6379" },
			`redis.url "redis://a:6379,redis://b:6379" names several servers: set redis.cluster: true`},
		{"redis cluster socket", func(c *config.Config) { c.Redis.URL, c.Redis.Cluster = "unix:///run/redis.sock", true },
			`redis.url "unix:///run/redis.sock" must use one of the schemes redis, rediss`},
		{"redis cluster bad node", func(c *config.Config) { c.Redis.URL, c.Redis.Cluster = "redis://a:6379,nats://b:1", true },
			`redis.url "nats://b:1" must use one of the schemes redis, rediss`},
		{"redis cluster database", func(c *config.Config) { c.Redis.URL, c.Redis.Cluster = "redis://a:6379/0,redis://b:6379/2", true },
			`redis.url "redis://b:6379/2": a Redis Cluster has database 0 only, not 2`},
		{"redis cluster credentials", func(c *config.Config) {
			c.Redis.URL, c.Redis.Cluster = "redis://u:p@a:6379,redis://b:6379", true
		}, `redis.url "redis://b:6379": every node of a Redis Cluster is reached with the same credentials and scheme as the first`},
		{"redis dial timeout", func(c *config.Config) { c.Redis.DialTimeout = 0 }, "redis.dial_timeout must be a positive duration"},
		{"redis read timeout", func(c *config.Config) { c.Redis.ReadTimeout = 0 }, "redis.read_timeout must be a positive duration"},
		{"redis write timeout", func(c *config.Config) { c.Redis.WriteTimeout = 0 }, "redis.write_timeout must be a positive duration"},
		{"stream with a dot", func(c *config.Config) { c.Store.Stream = "EV.ENTS" }, `store.stream "EV.ENTS" must not contain spaces, '.'`},
		{"stream with a space", func(c *config.Config) { c.Store.Stream = "MY EVENTS" }, `store.stream "MY EVENTS"`},
		{"stream with a wildcard", func(c *config.Config) { c.Store.Stream = "EVENTS>" }, `store.stream "EVENTS>"`},
		{"stream with a slash", func(c *config.Config) { c.Store.Stream = "a/b" }, `store.stream "a/b"`},
		{"stream empty", func(c *config.Config) { c.Store.Stream = "" }, `store.stream "" must not be empty`},
		{"stream too long", func(c *config.Config) { c.Store.Stream = strings.Repeat("E", 256) }, "is longer than 255 bytes"},
		{"bucket with a dot", func(c *config.Config) { c.Store.SnapshotBucket = "SNAP.SHOTS" }, `store.snapshot_bucket "SNAP.SHOTS" must be`},
		{"stream of the bucket", func(c *config.Config) { c.Store.Stream = "KV_SNAPSHOTS" }, `store.stream "KV_SNAPSHOTS" is the stream of store.snapshot_bucket`},
		{"replicas", func(c *config.Config) { c.Store.Replicas = 2 }, "store.replicas must be 1, 3 or 5, got 2"},
		{"duplicate window", func(c *config.Config) { c.Store.DuplicateWindow = 0 }, "store.duplicate_window must be a positive duration"},
		{"max batch", func(c *config.Config) { c.Store.MaxBatch = 0 }, "store.max_batch must be between 1 and 10000, got 0"},
		{"workers", func(c *config.Config) { c.Writer.Workers = 0 }, "writer.workers must be between 1 and 4096, got 0"},
		{"too many workers", func(c *config.Config) { c.Writer.Workers = 5000 }, "writer.workers must be between 1 and 4096, got 5000"},
		{"writer retries", func(c *config.Config) { c.Writer.MaxRetries = -1 }, "writer.max_retries must be between 0 and 100, got -1"},
		{"queue group", func(c *config.Config) { c.Writer.QueueGroup = "a b" }, `writer.queue_group "a b"`},
		{"snapshot every", func(c *config.Config) { c.Writer.SnapshotEvery = 0 }, "writer.snapshot_every must be positive"},
		{"batch size", func(c *config.Config) { c.Projector.BatchSize = 0 }, "projector.batch_size must be between 1 and 10000, got 0"},
		{"projector retries", func(c *config.Config) { c.Projector.MaxRetries = 101 }, "projector.max_retries must be between 0 and 100, got 101"},
		{"max queue wait", func(c *config.Config) { c.Writer.MaxQueueWait = 0 }, "writer.max_queue_wait must be a positive duration"},
		{"retry backoff", func(c *config.Config) { c.Projector.RetryBackoff = 0 }, "projector.retry_backoff must be a positive duration"},
		{"lease ttl", func(c *config.Config) { c.Projector.LeaseTTL = 0 }, "projector.lease_ttl must be a positive duration"},
		{"fetch wait", func(c *config.Config) { c.Projector.FetchWait = -time.Second }, "projector.fetch_wait must be a positive duration"},
		{"fetch wait beyond the lease", func(c *config.Config) { c.Projector.FetchWait = 2 * time.Second }, "projector.fetch_wait 2s must be at most a third of projector.lease_ttl 5s"},
		{"pinned ttl", func(c *config.Config) { c.Process.PinnedTTL = 0 }, "process.pinned_ttl must be a positive duration, got 0s"},
		{"pinned ttl too long", func(c *config.Config) { c.Process.PinnedTTL = time.Hour }, "process.pinned_ttl must be at most 10m0s"},
		{"transfer timeout negative", func(c *config.Config) { c.Process.TransferTimeout = -time.Second }, "process.transfer_timeout must be 0 (no timeout) or at least 1s (timers fire to the second), got -1s"},
		{"transfer timeout under a second", func(c *config.Config) { c.Process.TransferTimeout = 500 * time.Millisecond }, "process.transfer_timeout must be 0 (no timeout) or at least 1s"},
		{"default wait", func(c *config.Config) { c.Reader.DefaultWait = 0 }, "reader.default_wait must be a positive duration"},
		{"max wait", func(c *config.Config) { c.Reader.MaxWait = -1 }, "reader.max_wait must be a positive duration"},
		{"default over max wait", func(c *config.Config) { c.Reader.DefaultWait = time.Hour }, "reader.default_wait 1h0m0s must not exceed reader.max_wait 30s"},
		{"http listen", func(c *config.Config) { c.HTTP.Listen = "nowhere" }, `http.listen "nowhere" must be host:port`},
		{"http listen port", func(c *config.Config) { c.HTTP.Listen = "127.0.0.1:http" }, `http.listen "127.0.0.1:http" must be host:port`},
		{"gateway listen", func(c *config.Config) { c.HTTP.GatewayListen = "8080" }, `http.gateway_listen "8080" must be host:port`},
		{"same listeners", func(c *config.Config) { c.HTTP.Listen = c.HTTP.GatewayListen }, "http.listen and http.gateway_listen must differ"},
		{"max body bytes", func(c *config.Config) { c.HTTP.MaxBodyBytes = 0 }, "http.max_body_bytes must be between 1 and 67108864, got 0"},
		{"log level", func(c *config.Config) { c.Log.Level = "loud" }, `log.level must be one of debug, info, warn, error, got "loud"`},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, `log.format must be one of text, json, got "xml"`},
		{"data dir", func(c *config.Config) { c.Standalone.DataDir = "" }, "standalone.data_dir must not be empty"},
		{"nats listen", func(c *config.Config) { c.Standalone.NATSListen = "" }, `standalone.nats_listen "" must be host:port`},
		{"sync word", func(c *config.Config) { c.Standalone.Sync = "sometimes" }, `standalone.sync must be "always" or a positive duration such as 2m, got "sometimes"`},
		{"sync zero", func(c *config.Config) { c.Standalone.Sync = "0s" }, `standalone.sync must be "always" or a positive duration`},
		{"deployment name", func(c *config.Config) { c.Deployment.Name = "Prod.1" }, `deployment.name "Prod.1" must match`},
		{"max waits", func(c *config.Config) { c.Reader.MaxWaits = 0 }, "reader.max_waits must be between 1 and 100000, got 0"},
		{"startup timeout", func(c *config.Config) { c.NATS.StartupTimeout = 0 }, "nats.startup_timeout must be a positive duration"},
		{"inbox wildcard", func(c *config.Config) { c.NATS.InboxPrefix = "_INBOX.>" }, `nats.inbox_prefix "_INBOX.>" must be subject tokens`},
		{"inbox trailing dot", func(c *config.Config) { c.NATS.InboxPrefix = "_INBOX." }, `nats.inbox_prefix "_INBOX." must be subject tokens`},
		{"gateway tls half", func(c *config.Config) { c.Gateway.TLSCert = "gw.pem" }, `gateway.tls_cert and gateway.tls_key must be set together, got tls_cert "gw.pem" and tls_key ""`},
		{"gateway jwt issuer without key", func(c *config.Config) { c.Gateway.JWTIssuer = "https://id" }, "gateway.jwt_issuer is set without gateway.jwt_secret_file or gateway.jwt_public_key_file"},
		{"gateway jwt audience without key", func(c *config.Config) { c.Gateway.JWTAudience = "js" }, "gateway.jwt_audience is set without"},
		{"gateway scope claim", func(c *config.Config) { c.Gateway.JWTScopeClaim = "" }, "gateway.jwt_scope_claim must not be empty"},
		{"gateway read header timeout", func(c *config.Config) { c.Gateway.ReadHeaderTimeout = 0 }, "gateway.read_header_timeout must be a positive duration"},
		{"gateway read timeout", func(c *config.Config) { c.Gateway.ReadTimeout = -1 }, "gateway.read_timeout must be a positive duration"},
		{"gateway idle timeout", func(c *config.Config) { c.Gateway.IdleTimeout = 0 }, "gateway.idle_timeout must be a positive duration"},
		{"gateway long polls", func(c *config.Config) { c.Gateway.MaxLongPolls = 0 }, "gateway.max_long_polls must be between 1 and 100000, got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.change(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "config: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValidateAcceptsEveryAllowedForm(t *testing.T) {
	cases := map[string]func(*config.Config){
		"nats cluster":       func(c *config.Config) { c.NATS.URL = "nats://a:4222, tls://b:4222,ws://c:80,wss://d:443" },
		"nats without port":  func(c *config.Config) { c.NATS.URL = "nats://demo.nats.io" },
		"user and password":  func(c *config.Config) { c.NATS.User, c.NATS.Password = "u", "p" },
		"redis tls":          func(c *config.Config) { c.Redis.URL = "rediss://user:pw@r:6380/3" },
		"redis socket":       func(c *config.Config) { c.Redis.URL = "unix:///run/redis.sock?db=2" },
		"redis cluster":      func(c *config.Config) { c.Redis.URL, c.Redis.Cluster = "redis://a:7000, redis://b:7001/0", true },
		"redis cluster seed": func(c *config.Config) { c.Redis.URL, c.Redis.Cluster = "rediss://u:pw@a:7000", true },
		"three replicas":     func(c *config.Config) { c.Store.Replicas = 3 },
		"no snapshots":       func(c *config.Config) { c.Writer.SnapshotEvery = -1 },
		"no listeners":       func(c *config.Config) { c.HTTP.Listen, c.HTTP.GatewayListen = "", "" },
		"ephemeral ports":    func(c *config.Config) { c.HTTP.Listen, c.HTTP.GatewayListen = "127.0.0.1:0", "127.0.0.1:0" },
		"ipv6 listener":      func(c *config.Config) { c.HTTP.Listen = "[::1]:9090" },
		"no retries":         func(c *config.Config) { c.Writer.MaxRetries, c.Projector.MaxRetries = 0, 0 },
		"queue group dotted": func(c *config.Config) { c.Writer.QueueGroup = "jetsource.writer" },
		"gateway jwt checks": func(c *config.Config) {
			c.Gateway.JWTPublicKeyFile, c.Gateway.JWTIssuer, c.Gateway.JWTAudience = "idp.pem", "https://id", "js"
		},
		"gateway tls": func(c *config.Config) { c.Gateway.TLSCert, c.Gateway.TLSKey = "gw.pem", "gw.key" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			change(&cfg)
			assert.NoError(t, cfg.Validate())
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := config.Load(nil, env(map[string]string{
		"JETSOURCE_WRITER_WORKERS": "0", "JETSOURCE_LOG_LEVEL": "loud", "REDIS_URL": "http://r",
	}))
	require.Error(t, err)
	for _, name := range []string{"writer.workers", "log.level", "redis.url"} {
		assert.Contains(t, err.Error(), name)
	}

	_, err = config.Load([]string{"-workers", "x", "-replicas", "y"}, env(map[string]string{"JETSOURCE_STORE_MAX_BATCH": "z"}))
	require.Error(t, err)
	for _, name := range []string{"-workers", "-replicas", "JETSOURCE_STORE_MAX_BATCH"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	secrets := []string{"hunter2-pass", "tok-secret", "url-token", "url-pass", "redis-secret"}
	cfg, err := config.Load(nil, env(map[string]string{
		"NATS_USER": "alice", "NATS_PASSWORD": "hunter2-pass",
		"NATS_URL":  "nats://url-token@n1:4222,nats://bob:url-pass@n2:4222",
		"REDIS_URL": "redis://:redis-secret@127.0.0.1:6379/0",
	}))
	require.NoError(t, err)
	withToken := config.Default()
	withToken.NATS.Token = "tok-secret"

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("start", "config", cfg, "token", withToken)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("start", "config", cfg, "nats", cfg.NATS, "redis", cfg.Redis, "token", withToken.NATS)
	outputs := map[string]string{
		"Redacted":  fmt.Sprintf("%+v %+v", cfg.Redacted(), withToken.Redacted()),
		"fmt %v":    fmt.Sprintf("%v %v", cfg, withToken),
		"fmt %+v":   fmt.Sprintf("%+v %+v %+v", cfg, cfg.NATS, withToken.NATS),
		"fmt %#v":   fmt.Sprintf("%#v %#v", cfg, withToken),
		"fmt %s":    fmt.Sprintf("%s %s", cfg.NATS, cfg.Redis),
		"slog text": text.String(),
		"slog json": js.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			assert.NotContains(t, out, s, name)
		}
		assert.Contains(t, out, "REDACTED", name)
	}
	assert.Contains(t, text.String(), "config.nats.url=", "settings are grouped by section")
	assert.Contains(t, text.String(), "config.writer.workers=64")
	assert.Contains(t, fmt.Sprintf("%v", cfg.Redacted().NATS), "alice", "the user name is no secret")

	assert.Equal(t, "hunter2-pass", cfg.NATS.Password, "Redacted returns a copy")
	assert.Equal(t, "redis://:redis-secret@127.0.0.1:6379/0", cfg.Redis.URL)
}

func TestSecretsAreNotInErrors(t *testing.T) {
	cases := map[string]func(*config.Config){
		"nats scheme":    func(c *config.Config) { c.NATS.URL = "http://u:url-pass@x:1" },
		"nats bad port":  func(c *config.Config) { c.NATS.URL = "nats://u:url-pass@x:port" },
		"redis scheme":   func(c *config.Config) { c.Redis.URL = "http://:url-pass@x:1" },
		"redis bad port": func(c *config.Config) { c.Redis.URL = "redis://:url-pass@x:port/0" },
		"redis bad db":   func(c *config.Config) { c.Redis.URL = "redis://:url-pass@x:6379/abc" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			change(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "url-pass")
			assert.Contains(t, err.Error(), "REDACTED")
			_, err = cfg.Redis.Options()
			if err != nil {
				assert.NotContains(t, err.Error(), "url-pass")
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://alice:pw@n:4222":                  "nats://alice:REDACTED@n:4222",
		"nats://s3cr3t-token@n:4222":              "nats://REDACTED@n:4222",
		"nats://a:p1@n1:4222,nats://b:p2@n2:4222": "nats://a:REDACTED@n1:4222,nats://b:REDACTED@n2:4222",
		"nats://tok@n1,nats://n2":                 "nats://REDACTED@n1,nats://n2",
		"redis://:pw@r:6379/0":                    "redis://:REDACTED@r:6379/0",
		"redis://:pa,ss@r:6379/0":                 "redis://:REDACTED@r:6379/0",
		"rediss://u:pw@r:6380/1?dial_timeout=1s":  "rediss://u:REDACTED@r:6380/1?dial_timeout=1s",
		"redis://u:pw@r:port/0":                   "redis://REDACTED@r:port/0",
		"unix://u:pw@/run/redis.sock?db=1":        "unix://u:REDACTED@/run/redis.sock?db=1",
		"":                                        "",
		"not a url":                               "not a url",
	}
	for raw, want := range cases {
		assert.Equal(t, want, config.RedactURL(raw), raw)
	}
}

func TestEnvNamesListsEveryVariable(t *testing.T) {
	names := config.EnvNames()
	for _, want := range []string{"JETSOURCE_CONFIG", "JETSOURCE_NATS_URL", "NATS_URL", "REDIS_URL", "NATS_TLS_CA",
		"JETSOURCE_WRITER_WORKERS", "JETSOURCE_STANDALONE_NATS_LISTEN"} {
		assert.Contains(t, names, want)
	}
	// Each one is read: setting it to garbage makes Load fail or change.
	for _, name := range names {
		if name == "JETSOURCE_CONFIG" {
			continue
		}
		cfg, err := config.Load(nil, env(map[string]string{name: "\x00garbage"}))
		if err == nil {
			assert.NotEqual(t, config.Default(), cfg, name)
		}
	}
}

// apply runs the options on fresh nats.go options, as nats.Connect does.
func apply(t *testing.T, opts []nats.Option) nats.Options {
	t.Helper()
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		require.NoError(t, opt(&o))
	}
	return o
}

func TestNATSOptionsBasics(t *testing.T) {
	n := config.Default().NATS
	n.User, n.Password = "alice", "pw"
	opts, err := n.Options()
	require.NoError(t, err)
	o := apply(t, opts)
	assert.Equal(t, "jetsource", o.Name)
	assert.Equal(t, 5*time.Second, o.Timeout)
	assert.Equal(t, -1, o.MaxReconnect, "reconnect forever")
	assert.Positive(t, o.ReconnectWait)
	assert.Equal(t, "alice", o.User)
	assert.Equal(t, "pw", o.Password)
	assert.False(t, o.Secure)

	n = config.Default().NATS
	n.Token = "tok"
	o = apply(t, must(n.Options()))
	assert.Equal(t, "tok", o.Token)
}

func TestNATSOptionsWithCredsNKeyAndTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)

	n := config.Default().NATS
	n.CredsFile = writeFile(t, "user.creds", "-----BEGIN NATS USER JWT-----\n")
	n.TLSCert, n.TLSKey, n.TLSCA = cert, key, cert
	o := apply(t, must(n.Options()))
	assert.NotNil(t, o.UserJWT, "credentials callback set")
	assert.True(t, o.Secure, "TLS on")
	assert.NotNil(t, o.TLSCertCB)
	assert.NotNil(t, o.RootCAsCB)

	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	public, err := kp.PublicKey()
	require.NoError(t, err)
	n = config.Default().NATS
	n.NKeySeedFile = writeFile(t, "user.nk", string(seed))
	o = apply(t, must(n.Options()))
	assert.Equal(t, public, o.Nkey)
}

func TestNATSOptionsNameTheBadFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	absent := filepath.Join(dir, "absent")
	garbage := writeFile(t, "garbage.pem", "not a certificate")
	cases := []struct {
		name   string
		change func(*config.NATS)
		want   string
	}{
		{"creds", func(n *config.NATS) { n.CredsFile = absent }, "nats.creds_file"},
		{"nkey", func(n *config.NATS) { n.NKeySeedFile = absent }, "nats.nkey_seed_file"},
		{"tls cert", func(n *config.NATS) { n.TLSCert, n.TLSKey = absent, key }, "nats.tls_cert and nats.tls_key"},
		{"tls key", func(n *config.NATS) { n.TLSCert, n.TLSKey = cert, garbage }, "nats.tls_cert and nats.tls_key"},
		{"tls ca", func(n *config.NATS) { n.TLSCA = garbage }, "nats.tls_ca"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := config.Default().NATS
			tc.change(&n)
			_, err := n.Options()
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRedisOptions(t *testing.T) {
	r := config.Default().Redis
	r.URL = "rediss://alice:pw@cache:6380/3"
	r.DialTimeout, r.ReadTimeout, r.WriteTimeout = time.Second, 2*time.Second, 3*time.Second
	o, err := r.Options()
	require.NoError(t, err)
	assert.Equal(t, "cache:6380", o.Addr)
	assert.Equal(t, 3, o.DB)
	assert.Equal(t, "alice", o.Username)
	assert.Equal(t, "pw", o.Password)
	assert.NotNil(t, o.TLSConfig)
	assert.Equal(t, [3]time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
		[3]time.Duration{o.DialTimeout, o.ReadTimeout, o.WriteTimeout})

	r.URL = "unix:///run/redis.sock?db=2"
	o, err = r.Options()
	require.NoError(t, err)
	assert.Equal(t, "unix", o.Network)
	assert.Equal(t, "/run/redis.sock", o.Addr)
	assert.Equal(t, 2, o.DB)
}

func TestRedisOptionsParseErrors(t *testing.T) {
	for _, raw := range []string{"redis://x:notaport/0", "http://x:6379", "redis://x:6379/abc", "redis://x:6379/0?colour=red", ""} {
		r := config.Default().Redis
		r.URL = raw
		_, err := r.Options()
		assert.ErrorContains(t, err, "config: redis.url", raw)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	config.Log{Level: "warn", Format: "json"}.Logger(&buf).Info("hidden")
	config.Log{Level: "warn", Format: "json"}.Logger(&buf).Warn("shown")
	assert.NotContains(t, buf.String(), "hidden")
	assert.Contains(t, buf.String(), `"msg":"shown"`)

	buf.Reset()
	config.Log{Level: "debug", Format: "text"}.Logger(&buf).Debug("detail")
	assert.Contains(t, buf.String(), "msg=detail")
}

func TestExampleFilesLoadAndValidate(t *testing.T) {
	local, err := config.Load([]string{"-config", "examples/local.yaml"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, config.Default(), local, "the local example documents the defaults")

	compose, err := config.Load([]string{"-config", "examples/compose.yaml"}, env(nil))
	require.NoError(t, err)
	assert.Equal(t, "nats://nats:4222", compose.NATS.URL)
	assert.Equal(t, "redis://redis:6379/0", compose.Redis.URL)
	assert.Equal(t, "json", compose.Log.Format)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// writeCert writes a self-signed certificate and its key, PEM encoded.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jetsource test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestRedisClusterOptionsTakeEveryNodeAndTheSettingsTimeouts(t *testing.T) {
	cfg, err := config.Load(nil, env(map[string]string{
		"JETSOURCE_REDIS_URL":     "rediss://u:pw@a:7000/0,rediss://u:pw@b:7001",
		"JETSOURCE_REDIS_CLUSTER": "true",
	}))
	require.NoError(t, err)
	assert.True(t, cfg.Redis.Cluster)
	opts, err := cfg.Redis.ClusterOptions()
	require.NoError(t, err)
	assert.Equal(t, []string{"a:7000", "b:7001"}, opts.Addrs)
	assert.Equal(t, "u", opts.Username)
	assert.Equal(t, "pw", opts.Password)
	assert.NotNil(t, opts.TLSConfig, "rediss: TLS")
	assert.Equal(t, cfg.Redis.DialTimeout, opts.DialTimeout)
	assert.Equal(t, cfg.Redis.ReadTimeout, opts.ReadTimeout)
	assert.Equal(t, cfg.Redis.WriteTimeout, opts.WriteTimeout)
	assert.NotContains(t, fmt.Sprint(cfg.Redis), "pw", "the cluster URLs print without their passwords")
}

func TestProjectorPartitionsAreParsedAndChecked(t *testing.T) {
	counts, err := config.Projector{Partitions: " accounts=8, products = 4 "}.PartitionCounts()
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"accounts": 8, "products": 4}, counts)
	for text, want := range map[string]string{
		"accounts":              "each item must be <projection>=<count>",
		"accounts=x":            "each item must be <projection>=<count>",
		"=4":                    "each item must be <projection>=<count>",
		"accounts=0":            "accounts must have between 1 and 256 partitions, got 0",
		"accounts=257":          "accounts must have between 1 and 256 partitions, got 257",
		"accounts=2,accounts=4": "accounts is named twice",
	} {
		_, err := config.Projector{Partitions: text}.PartitionCounts()
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), want, text)
	}
}

// The process managers run in the projector by default, with the failover
// time and the transfer timeout cmd/transfers had; each is set from the
// file, its variable (JETSOURCE_TRANSFER_TIMEOUT too, as before it was a
// setting) or refused with a message naming it.
func TestProcessSettingsDefaultsSourcesAndRefusals(t *testing.T) {
	cfg, err := config.Load(nil, env(nil))
	require.NoError(t, err)
	assert.True(t, cfg.Projector.Processes, "a projector runs the process managers unless told not to")
	assert.Equal(t, 5*time.Second, cfg.Process.PinnedTTL)
	assert.Equal(t, 30*time.Second, cfg.Process.TransferTimeout)

	file := writeFile(t, "c.yaml", "projector:\n  processes: false\nprocess:\n  pinned_ttl: 2s\n  transfer_timeout: 0s\n")
	cfg, err = config.Load([]string{"-config", file}, env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Projector.Processes)
	assert.Equal(t, 2*time.Second, cfg.Process.PinnedTTL)
	assert.Zero(t, cfg.Process.TransferTimeout, "0 turns the timeout off")

	cfg, err = config.Load(nil, env(map[string]string{"JETSOURCE_PROJECTOR_PROCESSES": "false",
		"JETSOURCE_PROCESS_PINNED_TTL": "1s", "JETSOURCE_TRANSFER_TIMEOUT": "20s"}))
	require.NoError(t, err)
	assert.False(t, cfg.Projector.Processes)
	assert.Equal(t, time.Second, cfg.Process.PinnedTTL)
	assert.Equal(t, 20*time.Second, cfg.Process.TransferTimeout)
	cfg, err = config.Load(nil, env(map[string]string{"JETSOURCE_PROCESS_TRANSFER_TIMEOUT": "1m", "JETSOURCE_TRANSFER_TIMEOUT": "20s"}))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.Process.TransferTimeout, "the JETSOURCE_PROCESS_ name wins")

	for vars, want := range map[[2]string]string{
		{"JETSOURCE_PROJECTOR_PROCESSES", "maybe"}: `config: JETSOURCE_PROJECTOR_PROCESSES: "maybe" is not a boolean`,
		{"JETSOURCE_PROCESS_PINNED_TTL", "5"}:      `config: JETSOURCE_PROCESS_PINNED_TTL: "5" is not a duration`,
		{"JETSOURCE_PROCESS_PINNED_TTL", "-1s"}:    "config: process.pinned_ttl must be a positive duration, got -1s",
		{"JETSOURCE_TRANSFER_TIMEOUT", "-5s"}:      "config: process.transfer_timeout must be 0 (no timeout) or at least 1s",
	} {
		_, err := config.Load(nil, env(map[string]string{vars[0]: vars[1]}))
		require.Error(t, err, vars)
		assert.Contains(t, err.Error(), want, vars)
	}
	_, err = config.Load([]string{"-config", writeFile(t, "bad.yaml", "process:\n  pinned_tll: 2s\n")}, env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown setting process.pinned_tll")
}
