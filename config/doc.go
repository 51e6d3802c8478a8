// Package config loads the settings of every jetsource process (writer,
// projector, reader, gateway, single-process mode) and validates them.
//
// # Where settings come from
//
// Four layers, each overriding the one before:
//
//  1. the defaults (Default), which work on a laptop with nothing set:
//     NATS at nats://127.0.0.1:4222, Redis at redis://127.0.0.1:6379/0;
//  2. a YAML file, named by the flag -config or the variable JETSOURCE_CONFIG
//     (the flag wins). It may hold any subset of the settings; a key that
//     names no setting is an error that names it, so a typo is never
//     silently ignored. Durations are Go durations: "500ms", "5s", "10m".
//     See examples/local.yaml (every setting, with its default) and
//     examples/compose.yaml (inside docker-compose);
//  3. environment variables, one per setting;
//  4. command-line flags, for the settings changed most. Only the flags
//     given override: a flag left out never resets a value to its default.
//
// Load validates the result: Validate names every bad setting with its
// value, all at once, e.g.
//
//	config: writer.workers must be between 1 and 4096, got 0
//
// # Environment variables
//
// A setting's variable is JETSOURCE_ followed by its section and field in
// upper case: writer.workers is JETSOURCE_WRITER_WORKERS. The ecosystem's
// usual names are honoured too, for the settings that have one; when both are
// set, the JETSOURCE_ name wins. An empty variable counts as unset.
//
//	JETSOURCE_CONFIG                 the YAML file
//	JETSOURCE_NATS_URL               or NATS_URL; comma-separated for a cluster
//	JETSOURCE_NATS_NAME
//	JETSOURCE_NATS_CREDS_FILE        or NATS_CREDS
//	JETSOURCE_NATS_NKEY_SEED_FILE    or NATS_NKEY
//	JETSOURCE_NATS_USER              or NATS_USER
//	JETSOURCE_NATS_PASSWORD          or NATS_PASSWORD (secret)
//	JETSOURCE_NATS_TOKEN             or NATS_TOKEN (secret)
//	JETSOURCE_NATS_TLS_CERT          or NATS_TLS_CERT
//	JETSOURCE_NATS_TLS_KEY           or NATS_TLS_KEY
//	JETSOURCE_NATS_TLS_CA            or NATS_TLS_CA
//	JETSOURCE_NATS_INBOX_PREFIX      _INBOX.<user> with the users of `jetsource nats-config`
//	JETSOURCE_NATS_CONNECT_TIMEOUT
//	JETSOURCE_NATS_REQUEST_TIMEOUT
//	JETSOURCE_NATS_STARTUP_TIMEOUT
//	JETSOURCE_REDIS_URL              or REDIS_URL (with cluster: several, comma-separated)
//	JETSOURCE_REDIS_CLUSTER          true: a Redis Cluster
//	JETSOURCE_REDIS_DIAL_TIMEOUT
//	JETSOURCE_REDIS_READ_TIMEOUT
//	JETSOURCE_REDIS_WRITE_TIMEOUT
//	JETSOURCE_STORE_STREAM
//	JETSOURCE_STORE_STREAMS          several streams by type: ACCOUNTS=account,user;ORDERS=order
//	JETSOURCE_STORE_SNAPSHOT_BUCKET
//	JETSOURCE_STORE_REPLICAS
//	JETSOURCE_STORE_DUPLICATE_WINDOW
//	JETSOURCE_STORE_MAX_BATCH
//	JETSOURCE_WRITER_WORKERS
//	JETSOURCE_WRITER_MAX_RETRIES
//	JETSOURCE_WRITER_QUEUE_GROUP
//	JETSOURCE_WRITER_SNAPSHOT_EVERY
//	JETSOURCE_WRITER_MAX_QUEUE_WAIT
//	JETSOURCE_WRITER_STALE_RESERVATION
//	JETSOURCE_PROJECTOR_BATCH_SIZE
//	JETSOURCE_PROJECTOR_MAX_RETRIES
//	JETSOURCE_PROJECTOR_RETRY_BACKOFF
//	JETSOURCE_PROJECTOR_LEASE_TTL
//	JETSOURCE_PROJECTOR_FETCH_WAIT
//	JETSOURCE_PROJECTOR_PARTITIONS
//	JETSOURCE_PROJECTOR_PROCESSES    false: the process managers run in a binary of their own
//	JETSOURCE_PROCESS_PINNED_TTL     a process manager's failover time
//	JETSOURCE_PROCESS_TRANSFER_TIMEOUT or JETSOURCE_TRANSFER_TIMEOUT; 0: transfers never expire
//	JETSOURCE_READER_DEFAULT_WAIT
//	JETSOURCE_READER_MAX_WAIT
//	JETSOURCE_READER_MAX_WAITS
//	JETSOURCE_READER_READY_LAG
//	JETSOURCE_READER_POLL_INTERVAL
//	JETSOURCE_READER_LIVE
//	JETSOURCE_HTTP_LISTEN
//	JETSOURCE_HTTP_GATEWAY_LISTEN
//	JETSOURCE_HTTP_MAX_BODY_BYTES
//	JETSOURCE_GATEWAY_TOKENS_FILE
//	JETSOURCE_GATEWAY_JWT_SECRET_FILE
//	JETSOURCE_GATEWAY_JWT_PUBLIC_KEY_FILE
//	JETSOURCE_GATEWAY_JWT_ISSUER
//	JETSOURCE_GATEWAY_JWT_AUDIENCE
//	JETSOURCE_GATEWAY_JWT_SCOPE_CLAIM
//	JETSOURCE_GATEWAY_TLS_CERT
//	JETSOURCE_GATEWAY_TLS_KEY
//	JETSOURCE_GATEWAY_READ_HEADER_TIMEOUT
//	JETSOURCE_GATEWAY_READ_TIMEOUT
//	JETSOURCE_GATEWAY_IDLE_TIMEOUT
//	JETSOURCE_GATEWAY_MAX_LONG_POLLS
//	JETSOURCE_GATEWAY_BROWSER
//	JETSOURCE_LOG_LEVEL
//	JETSOURCE_LOG_FORMAT
//	JETSOURCE_STANDALONE_DATA_DIR
//	JETSOURCE_STANDALONE_NATS_LISTEN
//	JETSOURCE_STANDALONE_SYNC
//	JETSOURCE_DEPLOYMENT_NAME
//
// # Flags
//
//	-config file            the YAML file
//	-nats-url url           nats.url
//	-nats-creds file        nats.creds_file
//	-redis-url url          redis.url
//	-stream name            store.stream
//	-snapshot-bucket name   store.snapshot_bucket
//	-replicas n             store.replicas
//	-workers n              writer.workers
//	-batch-size n           projector.batch_size
//	-http-listen host:port  http.listen
//	-gateway-listen addr    http.gateway_listen
//	-log-level level        log.level
//	-log-format format      log.format
//	-data-dir folder        standalone.data_dir
//	-nats-listen host:port  standalone.nats_listen
//
// -h prints them with every variable and its default; Load then returns
// flag.ErrHelp, which a main treats as a clean exit.
//
// # Secrets
//
// The gateway's tokens and JWT secret are never settings: the settings name
// the files that hold them (only hashes, for the tokens). The NATS password
// and token, and credentials inside the NATS and Redis URLs, never appear in Redacted, in log output (Config, NATS and Redis are
// slog.LogValuers), in fmt output (NATS and Redis format themselves
// redacted, also inside a Config), or in error messages.
//
// # Connecting
//
// NATS.Options and Redis.Options turn the settings into nats.go and go-redis
// options, and Log.Logger into a slog.Logger, so each main stays a few lines.
package config
