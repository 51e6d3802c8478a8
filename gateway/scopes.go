package gateway

import (
	"regexp"
	"slices"
	"strings"
)

// The scopes a token may hold; CommandScope and QueryScope name the others.
const (
	// ScopeAdmin grants every route, including those added for operators
	// (the gateway's /metrics).
	ScopeAdmin = "admin"
	// ScopeAllCommands grants every command.
	ScopeAllCommands = "cmd:*"
	// ScopeAllQueries grants every query.
	ScopeAllQueries = "query:*"
)

const (
	commandScopePrefix = "cmd:"
	queryScopePrefix   = "query:"
)

// scopePattern is the syntax of a scope the gateway knows.
var scopePattern = regexp.MustCompile(`^(admin|(cmd|query):(\*|[a-z][a-z0-9_]{0,63}))$`)

// CommandScope is the scope that grants the commands of one aggregate type:
// cmd:<type>.
func CommandScope(aggregateType string) string { return commandScopePrefix + aggregateType }

// QueryScope is the scope that grants the queries of one model:
// query:<model>.
func QueryScope(model string) string { return queryScopePrefix + model }

// ValidScope reports whether scope is one the gateway knows: admin,
// cmd:<type>, cmd:*, query:<model> or query:*.
func ValidScope(scope string) bool { return scopePattern.MatchString(scope) }

// Principal is who sent a request: a static token's name or a JWT's
// subject, with the scopes the token grants.
type Principal struct {
	// Name identifies the client, in messages and in the long-poll limit:
	// "token:<name>", "jwt:<subject>" (JWTs without a subject share
	// "jwt:"), or "ip:<address>" when authentication is off.
	Name   string
	Scopes []string
}

// Allows reports whether the principal's scopes grant required.
func (p Principal) Allows(required string) bool {
	if slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, required) {
		return true
	}
	switch {
	case strings.HasPrefix(required, commandScopePrefix):
		return slices.Contains(p.Scopes, ScopeAllCommands)
	case strings.HasPrefix(required, queryScopePrefix):
		return slices.Contains(p.Scopes, ScopeAllQueries)
	}
	return false
}
