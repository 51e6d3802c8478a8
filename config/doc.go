// Package config loads the settings of every jetsource process from a YAML
// file, the environment and command-line flags, in that order of increasing
// precedence: a flag overrides a variable, which overrides the file, which
// overrides the defaults. The defaults work on a laptop with nothing set.
//
// The file is named by -config or JETSOURCE_CONFIG; unknown keys in it are an
// error. Every setting has a variable JETSOURCE_<SECTION>_<FIELD>, e.g.
// JETSOURCE_WRITER_WORKERS; the ecosystem's usual names are honoured too
// (NATS_URL, NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN,
// NATS_TLS_CERT, NATS_TLS_KEY, NATS_TLS_CA, REDIS_URL), and the JETSOURCE_
// name wins when both are set. Durations are Go durations ("5s", "10m").
//
// Validate names every bad setting at once. Secrets (passwords, tokens)
// never appear in Redacted or in log output.
package config
