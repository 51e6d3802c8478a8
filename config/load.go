package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Names Load reads besides the settings themselves.
const (
	configFlag = "config"
	configEnv  = "JETSOURCE_CONFIG"
	envPrefix  = "JETSOURCE_"
)

// maxFileBytes caps the settings file: a file larger than this is a mistake
// (a log, a binary), not settings.
const maxFileBytes = 1 << 20

// flagSpec binds a command-line flag to a setting, named by its YAML path.
// The back-quoted word of usage names the flag's value in -h.
type flagSpec struct{ name, path, usage string }

// flagSpecs are the flags of the settings an operator changes most; every
// other setting is set in the file or the environment.
var flagSpecs = []flagSpec{
	{"nats-url", "nats.url", "NATS server `url`, or several comma-separated"},
	{"nats-creds", "nats.creds_file", "NATS user credentials `file`"},
	{"redis-url", "redis.url", "Redis `url`"},
	{"stream", "store.stream", "event stream `name`"},
	{"snapshot-bucket", "store.snapshot_bucket", "snapshot key-value bucket `name`"},
	{"replicas", "store.replicas", "stream replicas `n`: 1 alone, 3 or 5 in a cluster"},
	{"workers", "writer.workers", "writer worker pool size `n`"},
	{"batch-size", "projector.batch_size", "projector fetch batch size `n`"},
	{"http-listen", "http.listen", "`host:port` of /healthz, /readyz and /metrics; empty: off"},
	{"gateway-listen", "http.gateway_listen", "`host:port` of the HTTP gateway; empty: off"},
	{"log-level", "log.level", "log `level`: debug, info, warn or error"},
	{"log-format", "log.format", "log `format`: text or json"},
	{"data-dir", "standalone.data_dir", "JetStream `folder` of the single-process mode"},
	{"nats-listen", "standalone.nats_listen", "`host:port` of the embedded NATS server of the single-process mode"},
}

// Load reads the settings of a process and validates them. It starts from
// Default, then applies the YAML file named by -config or JETSOURCE_CONFIG,
// then the environment (read through getenv: production passes os.Getenv),
// then the flags in args that were given. args excludes the program name.
//
// With -h or -help it prints the usage to stderr and returns flag.ErrHelp.
// Any other error names each bad setting, variable or flag, all at once.
func Load(args []string, getenv func(string) string) (Config, error) {
	return load(args, getenv, os.Stderr)
}

func load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet(programName(), flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() { printUsage(fs) }
	file := fs.String(configFlag, "", "YAML settings `file` (env "+configEnv+")")
	def := Default()
	defaults := byPath(settingsOf(&def))
	flagValues := make(map[string]*string, len(flagSpecs))
	for _, f := range flagSpecs {
		help := fmt.Sprintf("%s (env %s, default %s)", f.usage, defaults[f.path].envNames(), defaults[f.path])
		flagValues[f.name] = fs.String(f.name, "", help)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := Default()
	path := getenv(configEnv)
	if given[configFlag] {
		path = *file
	}
	if path != "" {
		if err := readFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}

	var errs []error
	settings := settingsOf(&cfg)
	for _, s := range settings {
		name, value, ok := lookupEnv(getenv, s)
		if !ok {
			continue
		}
		if err := s.set(value); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %w", name, err))
		}
	}
	bySetting := byPath(settings)
	for _, f := range flagSpecs {
		if !given[f.name] {
			continue
		}
		if err := bySetting[f.path].set(*flagValues[f.name]); err != nil {
			errs = append(errs, fmt.Errorf("config: -%s: %w", f.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// programName names the process in -h: writer, projector, reader.
func programName() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		return filepath.Base(os.Args[0])
	}
	return "jetsource"
}

// printUsage writes the flags, then every environment variable with its
// default, so that -h is a complete reference.
func printUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: %s [flags]\n\nFlags (they override the environment):\n", fs.Name())
	fs.PrintDefaults()
	fmt.Fprintf(out, "\nEnvironment (it overrides the file named by -%s or %s):\n", configFlag, configEnv)
	def := Default()
	for _, s := range settingsOf(&def) {
		fmt.Fprintf(out, "  %-42s default %s\n", s.envNames(), s)
	}
}

// EnvName is the JETSOURCE_ variable of a setting, named by its YAML path:
// writer.workers is JETSOURCE_WRITER_WORKERS.
func EnvName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// EnvNames lists every environment variable Load reads: JETSOURCE_CONFIG,
// then each setting's JETSOURCE_ name and ecosystem name (NATS_URL …).
func EnvNames() []string {
	names := []string{configEnv}
	var zero Config
	for _, s := range settingsOf(&zero) {
		names = append(names, EnvName(s.path))
		if s.ecoEnv != "" {
			names = append(names, s.ecoEnv)
		}
	}
	return names
}

// lookupEnv returns the variable that sets s and its value: the JETSOURCE_
// name first, then the ecosystem name (NATS_URL …). getenv cannot tell an
// empty variable from an unset one, so an empty variable sets nothing.
func lookupEnv(getenv func(string) string, s setting) (name, value string, ok bool) {
	for _, name := range []string{EnvName(s.path), s.ecoEnv} {
		if name == "" {
			continue
		}
		if v := getenv(name); v != "" {
			return name, v, true
		}
	}
	return "", "", false
}

// readFile applies the YAML file at path to cfg: the keys it holds replace
// those values, the others keep theirs.
func readFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileBytes {
		return fmt.Errorf("config: %s is larger than %d bytes: not a settings file", path, maxFileBytes)
	}
	return decodeYAML(path, data, cfg)
}

// decodeYAML applies one YAML document to cfg. An empty document sets
// nothing; an unknown key is an error that names it by its full path.
func decodeYAML(name string, data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("config: %s: %w", name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: holds more than one YAML document", name)
	}
	if err := checkKeys(name, &doc); err != nil {
		return err
	}
	// The strict decoder is the safety net for what checkKeys lets through
	// (merge keys, aliases) and reports the values of the wrong type.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(cfg); err != nil {
		return fmt.Errorf("config: %s: %w", name, err)
	}
	return nil
}

// checkKeys reports every key of doc that names no setting, with its line
// and full path (writer.wrokers), so a typo is not silently ignored.
func checkKeys(name string, doc *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil // not a mapping: the strict decoder says what is wrong
	}
	known := map[string]map[string]bool{}
	var zero Config
	for _, s := range settingsOf(&zero) {
		section, field, _ := strings.Cut(s.path, ".")
		if known[section] == nil {
			known[section] = map[string]bool{}
		}
		known[section][field] = true
	}
	var errs []error
	unknown := func(key *yaml.Node, path string) {
		errs = append(errs, fmt.Errorf("config: %s line %d: unknown setting %s", name, key.Line, path))
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if key.Tag == "!!merge" {
			continue
		}
		fields, ok := known[key.Value]
		if !ok {
			unknown(key, key.Value)
			continue
		}
		if value.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(value.Content); j += 2 {
			k := value.Content[j]
			if k.Tag != "!!merge" && !fields[k.Value] {
				unknown(k, key.Value+"."+k.Value)
			}
		}
	}
	return errors.Join(errs...)
}

// setting is one leaf of Config, a field of a section.
type setting struct {
	path   string        // YAML path, e.g. writer.workers
	ecoEnv string        // the ecosystem variable also honoured, e.g. NATS_URL
	value  reflect.Value // the field, settable when walked from a pointer
}

// settingsOf lists every setting of c in declaration order.
func settingsOf(c *Config) []setting {
	var out []setting
	root := reflect.ValueOf(c).Elem()
	for i := range root.NumField() {
		section := root.Field(i)
		prefix := yamlName(root.Type().Field(i)) + "."
		for j := range section.NumField() {
			f := section.Type().Field(j)
			out = append(out, setting{path: prefix + yamlName(f), ecoEnv: f.Tag.Get("env"), value: section.Field(j)})
		}
	}
	return out
}

func byPath(settings []setting) map[string]setting {
	m := make(map[string]setting, len(settings))
	for _, s := range settings {
		m[s.path] = s
	}
	return m
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

var durationType = reflect.TypeFor[time.Duration]()

// set parses s as the setting's type and stores it.
func (s setting) set(text string) error {
	v := s.value
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 500ms, 5s, 10m)", text)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(text)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", text)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("%q is not an integer", text)
		}
		v.SetInt(n)
	default:
		// Unreachable while Config holds only the types above; a test walks it.
		return fmt.Errorf("setting %s has unsupported type %s", s.path, v.Type())
	}
	return nil
}

// envNames lists the variables that set s, the one that wins first.
func (s setting) envNames() string {
	if s.ecoEnv == "" {
		return EnvName(s.path)
	}
	return EnvName(s.path) + " or " + s.ecoEnv
}

// String formats the setting's value as it is written in the environment.
func (s setting) String() string {
	if s.value.Kind() == reflect.String && s.value.String() == "" {
		return `""`
	}
	return fmt.Sprint(s.value.Interface())
}
