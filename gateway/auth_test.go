package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/gateway"
)

// staticToken makes a token and its settings entry.
func staticToken(t *testing.T, name string, scopes ...string) (string, gateway.Token) {
	t.Helper()
	tok, err := gateway.NewToken()
	require.NoError(t, err)
	hash, err := gateway.HashToken(tok)
	require.NoError(t, err)
	return tok, gateway.Token{Name: name, Hash: hash, Scopes: scopes}
}

// errorOf returns the code and message of a contract error body.
func errorOf(t *testing.T, body map[string]any) (code, message string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error body, got %v", body)
	return e["code"].(string), e["message"].(string)
}

func TestRequestWithoutAValidTokenIsAnswered401(t *testing.T) {
	_, entry := staticToken(t, "billing", gateway.ScopeAllCommands)
	f := startGateway(t, gateway.WithTokens(entry))
	for name, header := range map[string]string{
		"no header":      "",
		"not bearer":     "Basic YWRhOnB3",
		"empty bearer":   "Bearer ",
		"unknown token":  "Bearer jst_" + strings.Repeat("x", 43),
		"the hash":       "Bearer " + entry.Hash,
		"a JWT, no keys": "Bearer eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImFkbWluIn0.",
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest("POST", f.url+"/v1/commands/account/deposit", strings.NewReader(`{"aggregate_id":"a"}`))
			require.NoError(t, err)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="jetsource"`), resp.Header.Get("WWW-Authenticate"))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		})
	}
	status, _, body := doAs(t, "", "GET", f.url+"/v1/queries/account/get?id=a", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	code, message := errorOf(t, body)
	assert.Equal(t, "unauthorized", code)
	assert.Contains(t, message, "Authorization: Bearer")
}

func TestTokenWithoutTheRoutesScopeIsAnswered403(t *testing.T) {
	queries, qEntry := staticToken(t, "dashboard", gateway.QueryScope("account"))
	orders, oEntry := staticToken(t, "shop", gateway.CommandScope("order"), gateway.ScopeAllQueries)
	f := startGateway(t, gateway.WithTokens(qEntry, oEntry))
	for _, c := range []struct{ name, token, method, path, scope string }{
		{"query token sends a command", queries, "POST", "/v1/commands/account/deposit", "cmd:account"},
		{"query token of another model", queries, "GET", "/v1/queries/order/get?id=o", "query:order"},
		{"command token of another type", orders, "POST", "/v1/commands/account/deposit", "cmd:account"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, header, body := doAs(t, c.token, c.method, f.url+c.path, `{"aggregate_id":"a"}`)
			assert.Equal(t, http.StatusForbidden, status)
			code, message := errorOf(t, body)
			assert.Equal(t, "forbidden", code)
			assert.Contains(t, message, c.scope)
			assert.Contains(t, header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
		})
	}
}

func TestStaticTokenWithTheRoutesScopeIsForwarded(t *testing.T) {
	account, aEntry := staticToken(t, "billing", gateway.CommandScope("account"), gateway.QueryScope("account"))
	all, allEntry := staticToken(t, "ops", gateway.ScopeAllCommands, gateway.ScopeAllQueries)
	admin, adminEntry := staticToken(t, "root", gateway.ScopeAdmin)
	f := startGateway(t, gateway.WithTokens(aEntry, allEntry, adminEntry))
	for name, tok := range map[string]string{"exact scopes": account, "wildcards": all, "admin": admin} {
		t.Run(name, func(t *testing.T) {
			status, _, body := doAs(t, tok, "POST", f.url+"/v1/commands/account/deposit", `{"aggregate_id":"a"}`)
			assert.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "cmd.account.deposit", body["subject"])
			status, _, body = doAs(t, tok, "GET", f.url+"/v1/queries/account/get?id=a", "")
			assert.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "query.account.get", body["subject"])
		})
	}
}

// jwtKeys are the keys of an identity provider in the JWT tests.
type jwtKeys struct {
	secret []byte
	ed     ed25519.PrivateKey
	rsa    *rsa.PrivateKey
}

func newJWTKeys(t *testing.T) jwtKeys {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return jwtKeys{secret: []byte(strings.Repeat("s", 32)), ed: ed, rsa: rk}
}

func TestJWTWithTheRoutesScopeIsForwardedAndOthersRefused(t *testing.T) {
	keys := newJWTKeys(t)
	f := startGateway(t,
		gateway.WithJWT(gateway.JWT{Secret: keys.secret, PublicKey: keys.ed.Public(), Issuer: "https://id.example", Audience: "jetsource"}))
	rsaOnly := startGateway(t, gateway.WithJWT(gateway.JWT{PublicKey: &keys.rsa.PublicKey}))
	edPublic := []byte(keys.ed.Public().(ed25519.PublicKey))
	now := time.Now()
	valid := func(scope any) jwt.MapClaims {
		return jwt.MapClaims{"sub": "ada", "iss": "https://id.example", "aud": "jetsource", "exp": now.Add(time.Hour).Unix(), "scope": scope}
	}
	with := func(c jwt.MapClaims, key string, value any) jwt.MapClaims {
		out := jwt.MapClaims{}
		for k, v := range c {
			out[k] = v
		}
		if value == nil {
			delete(out, key)
		} else {
			out[key] = value
		}
		return out
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		require.NoError(t, err)
		return s
	}
	cmd := valid("openid cmd:account")
	cases := []struct {
		name   string
		f      *fixture
		token  string
		status int
	}{
		{"HS256", f, sign(jwt.SigningMethodHS256, keys.secret, cmd), 200},
		{"EdDSA", f, sign(jwt.SigningMethodEdDSA, keys.ed, cmd), 200},
		{"RS256", rsaOnly, sign(jwt.SigningMethodRS256, keys.rsa, with(cmd, "iss", "anyone")), 200},
		{"scopes as an array", f, sign(jwt.SigningMethodHS256, keys.secret, valid([]string{"cmd:*"})), 200},
		{"admin", f, sign(jwt.SigningMethodHS256, keys.secret, valid("admin")), 200},
		{"no scope for the route", f, sign(jwt.SigningMethodHS256, keys.secret, valid("query:account cmd:order")), 403},
		{"no scope claim", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "scope", nil)), 403},
		{"expired", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "exp", now.Add(-time.Minute).Unix())), 401},
		{"no exp", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "exp", nil)), 401},
		{"not yet valid", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "nbf", now.Add(time.Hour).Unix())), 401},
		{"other audience", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "aud", "elsewhere")), 401},
		{"other issuer", f, sign(jwt.SigningMethodHS256, keys.secret, with(cmd, "iss", "https://evil.example")), 401},
		{"other secret", f, sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), cmd), 401},
		{"other Ed25519 key", f, sign(jwt.SigningMethodEdDSA, newJWTKeys(t).ed, cmd), 401},
		{"alg none", f, sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, cmd), 401},
		{"HS256 with the public key as secret", rsaOnly, sign(jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&keys.rsa.PublicKey), cmd), 401},
		{"HS256 with the Ed25519 public key", f, sign(jwt.SigningMethodHS256, edPublic, cmd), 401},
		{"HS512 not configured", f, sign(jwt.SigningMethodHS512, keys.secret, cmd), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := doAs(t, c.token, "POST", c.f.url+"/v1/commands/account/deposit", `{"aggregate_id":"a"}`)
			assert.Equal(t, c.status, status, "%v", body)
			if c.status != http.StatusOK {
				code, _ := errorOf(t, body)
				assert.Equal(t, map[int]string{401: "unauthorized", 403: "forbidden"}[c.status], code)
			}
		})
	}
}

func TestAddedRoutesNeedTheirScope(t *testing.T) {
	admin, adminEntry := staticToken(t, "root", gateway.ScopeAdmin)
	ops, opsEntry := staticToken(t, "ops", gateway.ScopeAllCommands, gateway.ScopeAllQueries)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	f := startGateway(t, gateway.WithTokens(adminEntry, opsEntry),
		gateway.WithRoute("GET /metrics", gateway.ScopeAdmin, ok),
		gateway.WithRoute("GET /healthz", "", ok))
	for _, c := range []struct {
		name, token, path string
		status            int
	}{
		{"probe needs nothing", "", "/healthz", 200},
		{"admin route without token", "", "/metrics", 401},
		{"admin route with every command and query", ops, "/metrics", 403},
		{"admin route with admin", admin, "/metrics", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, _ := doAs(t, c.token, "GET", f.url+c.path, "")
			assert.Equal(t, c.status, status)
		})
	}
}

func TestHashTokenRefusesShortTokens(t *testing.T) {
	_, err := gateway.HashToken("hunter2")
	require.ErrorIs(t, err, gateway.ErrShortToken)
	tok, err := gateway.NewToken()
	require.NoError(t, err)
	hash, err := gateway.HashToken(tok)
	require.NoError(t, err)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, hash)
	assert.NotContains(t, hash, tok)
}

func TestParseTokensNamesEveryBadEntry(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct{ name, yaml, message string }{
		{"a plain token instead of a hash", "tokens: [{name: a, hash: jst_secret, scopes: [admin]}]", `token 1 ("a"): hash must be`},
		{"no scope", "tokens: [{name: a, hash: " + good + "}]", "grants no scope"},
		{"unknown scope", "tokens: [{name: a, hash: " + good + ", scopes: [cmd:Account]}]", `unknown scope "cmd:Account"`},
		{"bad name", "tokens: [{name: 'a b', hash: " + good + ", scopes: [admin]}]", "name must match"},
		{"name twice", "tokens: [{name: a, hash: " + good + ", scopes: [admin]}, {name: a, hash: sha256:" + strings.Repeat("cd", 32) + ", scopes: [admin]}]", `the name "a" is used twice`},
		{"hash twice", "tokens: [{name: a, hash: " + good + ", scopes: [admin]}, {name: b, hash: " + good + ", scopes: [admin]}]", "same hash is used twice"},
		{"empty", "", "no tokens"},
		{"empty list", "tokens: []", "no tokens"},
		{"unknown key", "tokens: [{name: a, token: x, hash: " + good + ", scopes: [admin]}]", "field token not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := gateway.ParseTokens([]byte(c.yaml))
			require.ErrorIs(t, err, gateway.ErrBadTokens)
			assert.Contains(t, err.Error(), c.message)
		})
	}
	tokens, err := gateway.ParseTokens([]byte("tokens: [{name: billing, hash: " + good + ", scopes: [cmd:account, 'query:*']}]"))
	require.NoError(t, err)
	assert.Equal(t, []gateway.Token{{Name: "billing", Hash: good, Scopes: []string{"cmd:account", "query:*"}}}, tokens)
}

func TestLoadJWTKeysReadsSecretAndPublicKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keys := newJWTKeys(t)
	der, err := x509.MarshalPKIXPublicKey(keys.ed.Public())
	require.NoError(t, err)
	pub := filepath.Join(dir, "ed.pem")
	require.NoError(t, os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	rsaPub := filepath.Join(dir, "rsa.pem")
	require.NoError(t, os.WriteFile(rsaPub, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&keys.rsa.PublicKey)}), 0o600))
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, append(keys.secret, '\n'), 0o600))

	cfg, err := gateway.LoadJWTKeys(secret, pub)
	require.NoError(t, err)
	assert.Equal(t, keys.secret, cfg.Secret)
	assert.Equal(t, keys.ed.Public(), cfg.PublicKey)
	cfg, err = gateway.LoadJWTKeys("", rsaPub)
	require.NoError(t, err)
	assert.True(t, keys.rsa.PublicKey.Equal(cfg.PublicKey))

	_, err = gateway.LoadJWTKeys("", secret)
	require.ErrorIs(t, err, gateway.ErrBadJWTKey)
	_, err = gateway.New(nil, gateway.WithJWT(gateway.JWT{Secret: []byte("short")}))
	require.ErrorIs(t, err, gateway.ErrBadJWTKey)
	_, err = gateway.New(nil, gateway.WithJWT(gateway.JWT{}))
	require.ErrorIs(t, err, gateway.ErrBadJWTKey)
}
