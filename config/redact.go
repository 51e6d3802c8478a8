package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// redacted replaces a secret wherever settings are printed.
const redacted = "REDACTED"

// Redacted returns a copy of c that is safe to print: the NATS password and
// token, and the credentials inside the NATS and Redis URLs, are replaced.
func (c Config) Redacted() Config {
	c.NATS = c.NATS.redacted()
	c.Redis = c.Redis.redacted()
	return c
}

// LogValue logs every setting, grouped by section, without secrets, so a
// process can log its settings at start: log.Info("starting", "config", cfg).
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	v := reflect.ValueOf(r)
	attrs := make([]slog.Attr, 0, v.NumField())
	for i := range v.NumField() {
		attrs = append(attrs, slog.Attr{Key: yamlName(v.Type().Field(i)), Value: sectionValue(v.Field(i))})
	}
	return slog.GroupValue(attrs...)
}

// LogValue logs the NATS settings without secrets.
func (n NATS) LogValue() slog.Value { return sectionValue(reflect.ValueOf(n.redacted())) }

// LogValue logs the Redis settings without secrets.
func (r Redis) LogValue() slog.Value { return sectionValue(reflect.ValueOf(r.redacted())) }

// plainNATS and plainRedis print with fmt's usual rules, without the Format
// methods that would recurse.
type (
	plainNATS  NATS
	plainRedis Redis
)

// Format prints the NATS settings without secrets, whatever the verb, so
// that fmt.Printf("%+v", cfg) cannot leak them.
func (n NATS) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), plainNATS(n.redacted()))
}

// Format prints the Redis settings without secrets, whatever the verb.
func (r Redis) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), plainRedis(r.redacted()))
}

func sectionValue(section reflect.Value) slog.Value {
	attrs := make([]slog.Attr, 0, section.NumField())
	for i := range section.NumField() {
		key, value := yamlName(section.Type().Field(i)), section.Field(i).Interface()
		if d, ok := value.(time.Duration); ok {
			value = d.String() // "5s" rather than JSON's nanoseconds
		}
		attrs = append(attrs, slog.Any(key, value))
	}
	return slog.GroupValue(attrs...)
}

func (n NATS) redacted() NATS {
	if n.Password != "" {
		n.Password = redacted
	}
	if n.Token != "" {
		n.Token = redacted
	}
	n.URL = RedactURL(n.URL)
	return n
}

func (r Redis) redacted() Redis {
	r.URL = RedactURL(r.URL)
	return r
}

// RedactURL returns raw with its credentials replaced, safe to print: the
// password of user:password, and a lone user name too, since NATS reads
// nats://token@host as a token. A comma-separated list of URLs (a NATS
// cluster) is redacted URL by URL; a comma inside a password is no list.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for _, p := range parts {
		if !strings.Contains(p, "://") {
			return redactURL(raw)
		}
	}
	for i, p := range parts {
		parts[i] = redactURL(p)
	}
	return strings.Join(parts, ",")
}

// redactURL redacts one URL. A URL that does not parse loses everything
// between its scheme and its last '@'.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		at := strings.LastIndex(raw, "@")
		if at < 0 {
			return raw
		}
		prefix := ""
		if scheme := strings.Index(raw, "://"); scheme >= 0 && scheme < at {
			prefix = raw[:scheme+len("://")]
		}
		return prefix + redacted + raw[at:]
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
	} else {
		u.User = url.User(redacted)
	}
	return u.String()
}
