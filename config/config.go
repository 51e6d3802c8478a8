package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config holds every setting of a jetsource process.
type Config struct {
	NATS       NATS       `yaml:"nats"`
	Redis      Redis      `yaml:"redis"`
	Store      Store      `yaml:"store"`
	Writer     Writer     `yaml:"writer"`
	Projector  Projector  `yaml:"projector"`
	Reader     Reader     `yaml:"reader"`
	HTTP       HTTP       `yaml:"http"`
	Log        Log        `yaml:"log"`
	Standalone Standalone `yaml:"standalone"`
}

// NATS is the connection to NATS.
type NATS struct {
	URL            string        `yaml:"url" env:"NATS_URL"`
	Name           string        `yaml:"name"`
	CredsFile      string        `yaml:"creds_file" env:"NATS_CREDS"`
	NKeySeedFile   string        `yaml:"nkey_seed_file" env:"NATS_NKEY"`
	User           string        `yaml:"user" env:"NATS_USER"`
	Password       string        `yaml:"password" env:"NATS_PASSWORD" secret:"true"`
	Token          string        `yaml:"token" env:"NATS_TOKEN" secret:"true"`
	TLSCert        string        `yaml:"tls_cert" env:"NATS_TLS_CERT"`
	TLSKey         string        `yaml:"tls_key" env:"NATS_TLS_KEY"`
	TLSCA          string        `yaml:"tls_ca" env:"NATS_TLS_CA"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Redis is the connection to Redis.
type Redis struct {
	URL          string        `yaml:"url" env:"REDIS_URL"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// Store is the event store.
type Store struct {
	Stream          string        `yaml:"stream"`
	SnapshotBucket  string        `yaml:"snapshot_bucket"`
	Replicas        int           `yaml:"replicas"`
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	MaxBatch        int           `yaml:"max_batch"`
}

// Writer is the command side.
type Writer struct {
	Workers       int    `yaml:"workers"`
	MaxRetries    int    `yaml:"max_retries"`
	QueueGroup    string `yaml:"queue_group"`
	SnapshotEvery int    `yaml:"snapshot_every"`
}

// Projector is the projection runner.
type Projector struct {
	BatchSize    int           `yaml:"batch_size"`
	MaxRetries   int           `yaml:"max_retries"`
	RetryBackoff time.Duration `yaml:"retry_backoff"`
}

// Reader is the query side.
type Reader struct {
	DefaultWait time.Duration `yaml:"default_wait"`
	MaxWait     time.Duration `yaml:"max_wait"`
}

// HTTP holds the HTTP listeners: Listen serves /healthz, /readyz and /metrics
// (empty: off); GatewayListen serves the HTTP gateway.
type HTTP struct {
	Listen        string `yaml:"listen"`
	GatewayListen string `yaml:"gateway_listen"`
	MaxBodyBytes  int64  `yaml:"max_body_bytes"`
}

// Log is the logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Standalone is the single-process mode.
type Standalone struct {
	DataDir    string `yaml:"data_dir"`
	NATSListen string `yaml:"nats_listen"`
}

// Default returns the settings that work locally with nothing configured.
func Default() Config {
	return Config{
		NATS: NATS{URL: "nats://127.0.0.1:4222", Name: "jetsource", ConnectTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second},
		Redis: Redis{URL: "redis://127.0.0.1:6379/0", DialTimeout: 5 * time.Second,
			ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second},
		Store:      Store{Stream: "EVENTS", SnapshotBucket: "SNAPSHOTS", Replicas: 1, DuplicateWindow: 10 * time.Minute, MaxBatch: 1000},
		Writer:     Writer{Workers: 64, MaxRetries: 10, QueueGroup: "jetsource-writer", SnapshotEvery: 100},
		Projector:  Projector{BatchSize: 256, MaxRetries: 5, RetryBackoff: 200 * time.Millisecond},
		Reader:     Reader{DefaultWait: 2 * time.Second, MaxWait: 30 * time.Second},
		HTTP:       HTTP{Listen: "", GatewayListen: "127.0.0.1:8080", MaxBodyBytes: 1 << 20},
		Log:        Log{Level: "info", Format: "text"},
		Standalone: Standalone{DataDir: "./data", NATSListen: "127.0.0.1:4222"},
	}
}

// flagSpec binds a flag to a setting, named by its YAML path.
type flagSpec struct{ name, path, usage string }

var flags = []flagSpec{
	{"nats-url", "nats.url", "NATS server URL"},
	{"nats-creds", "nats.creds_file", "NATS credentials file"},
	{"redis-url", "redis.url", "Redis URL"},
	{"stream", "store.stream", "event stream name"},
	{"replicas", "store.replicas", "stream replicas (1 alone, 3 in a cluster)"},
	{"workers", "writer.workers", "writer worker pool size"},
	{"batch-size", "projector.batch_size", "projection batch size"},
	{"http-listen", "http.listen", "address of /healthz, /readyz and /metrics (empty: off)"},
	{"gateway-listen", "http.gateway_listen", "address of the HTTP gateway"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
	{"data-dir", "standalone.data_dir", "data folder of the single-process mode"},
	{"nats-listen", "standalone.nats_listen", "address of the embedded NATS server (single-process mode)"},
}

// Flags lists the command-line flags Load understands (for docs and tests).
func Flags() []string {
	out := []string{"config"}
	for _, f := range flags {
		out = append(out, f.name)
	}
	return out
}

// Load reads the settings: defaults, then the YAML file (-config or
// JETSOURCE_CONFIG), then the environment, then flags; and validates them.
// With -h it prints usage and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("jetsource", flag.ContinueOnError)
	configFile := fs.String("config", getenv("JETSOURCE_CONFIG"), "YAML configuration file (env JETSOURCE_CONFIG)")
	values := map[string]*string{}
	for _, f := range flags {
		values[f.name] = fs.String(f.name, "", f.usage+" (env "+EnvName(f.path)+")")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected arguments %q", fs.Args())
	}
	cfg := Default()
	if *configFile != "" {
		if err := loadFile(*configFile, &cfg); err != nil {
			return Config{}, err
		}
	}
	var errs []error
	walk(&cfg, func(path string, field reflect.StructField, v reflect.Value) {
		val, ok := lookupEnv(getenv, path, field)
		if !ok {
			return
		}
		if err := setValue(v, val); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", EnvName(path), err))
		}
	})
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		for _, spec := range flags {
			if spec.name == f.Name {
				walk(&cfg, func(path string, _ reflect.StructField, v reflect.Value) {
					if path == spec.path {
						if err := setValue(v, *values[f.Name]); err != nil {
							errs = append(errs, fmt.Errorf("config: -%s: %w", f.Name, err))
						}
					}
				})
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

func loadFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	// An empty file decodes as io.EOF: no settings, not an error.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// EnvNames lists every environment variable Load reads.
func EnvNames() []string {
	names := []string{"JETSOURCE_CONFIG"}
	cfg := Default()
	walk(&cfg, func(path string, f reflect.StructField, _ reflect.Value) {
		names = append(names, EnvName(path))
		if e := f.Tag.Get("env"); e != "" {
			names = append(names, e)
		}
	})
	return names
}

// EnvName is the JETSOURCE_ variable of a setting's YAML path, e.g.
// writer.workers -> JETSOURCE_WRITER_WORKERS.
func EnvName(path string) string {
	return "JETSOURCE_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func lookupEnv(getenv func(string) string, path string, field reflect.StructField) (string, bool) {
	if v := getenv(EnvName(path)); v != "" {
		return v, true
	}
	if name := field.Tag.Get("env"); name != "" {
		if v := getenv(name); v != "" {
			return v, true
		}
	}
	return "", false
}

// walk visits every leaf setting with its YAML path.
func walk(cfg *Config, visit func(path string, field reflect.StructField, v reflect.Value)) {
	root := reflect.ValueOf(cfg).Elem()
	for i := range root.NumField() {
		section := root.Type().Field(i)
		sv := root.Field(i)
		for j := range sv.NumField() {
			f := sv.Type().Field(j)
			visit(yamlName(section)+"."+yamlName(f), f, sv.Field(j))
		}
	}
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func setValue(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 5s)", s)
		}
		v.SetInt(int64(d))
	case string:
		v.SetString(s)
	case int, int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// Redacted returns a copy with secrets replaced, safe to log.
func (c Config) Redacted() Config {
	walk(&c, func(_ string, f reflect.StructField, v reflect.Value) {
		if f.Tag.Get("secret") == "true" && v.String() != "" {
			v.SetString("[redacted]")
		}
	})
	c.NATS.URL = RedactURL(c.NATS.URL)
	c.Redis.URL = RedactURL(c.Redis.URL)
	return c
}

// RedactURL hides the password of a URL.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// LogValue logs the settings without secrets.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	var attrs []slog.Attr
	walk(&r, func(path string, _ reflect.StructField, v reflect.Value) {
		attrs = append(attrs, slog.Any(path, v.Interface()))
	})
	return slog.GroupValue(attrs...)
}
