package config_test

import (
	"fmt"

	"github.com/jetsource/jetsource/config"
)

// A main loads its settings from its arguments and the environment; here a
// map stands in for os.Getenv.
func ExampleLoad() {
	vars := map[string]string{
		"NATS_URL":                 "nats://nats:4222",
		"JETSOURCE_WRITER_WORKERS": "16",
	}
	cfg, err := config.Load([]string{"-log-level", "debug"}, func(k string) string { return vars[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.NATS.URL, cfg.Writer.Workers, cfg.Log.Level, cfg.Redis.URL)
	// Output: nats://nats:4222 16 debug redis://127.0.0.1:6379/0
}

// Validate names every bad setting at once.
func ExampleConfig_Validate() {
	cfg := config.Default()
	cfg.Writer.Workers = 0
	cfg.Store.Replicas = 2
	fmt.Println(cfg.Validate())
	// Output:
	// config: store.replicas must be 1, 3 or 5, got 2
	// config: writer.workers must be between 1 and 4096, got 0
}

// Redacted, and the log and fmt output of a Config, hide its secrets.
func ExampleConfig_Redacted() {
	cfg := config.Default()
	cfg.NATS.URL = "nats://alice:s3cret@nats:4222"
	cfg.NATS.Token = "t0ken"
	r := cfg.Redacted()
	fmt.Println(r.NATS.URL, r.NATS.Token)
	// Output: nats://alice:REDACTED@nats:4222 REDACTED
}
