package gateway

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// realm names the gateway in WWW-Authenticate.
const realm = "jetsource"

// authenticator checks bearer tokens: static ones by their hash, JWTs by
// their signature. A nil authenticator lets everything through.
type authenticator struct {
	// tokens maps a token's hash to its entry.
	tokens map[string]Token
	jwt    *jwtVerifier
}

func newAuthenticator(tokens []Token, jwtCfg *JWT) (*authenticator, error) {
	if len(tokens) == 0 && jwtCfg == nil {
		return nil, nil
	}
	if err := checkTokens(tokens); err != nil {
		return nil, err
	}
	a := &authenticator{tokens: make(map[string]Token, len(tokens))}
	for _, t := range tokens {
		a.tokens[strings.ToLower(t.Hash)] = t
	}
	if jwtCfg != nil {
		v, err := newJWTVerifier(*jwtCfg)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	return a, nil
}

// authError is a request refused for its credentials: 401, or 403 when they
// are valid but lack the scope.
type authError struct {
	status  int
	code    string
	message string
	// challenge is the WWW-Authenticate value.
	challenge string
}

func unauthorized(message, oauthError string) *authError {
	challenge := fmt.Sprintf("Bearer realm=%q", realm)
	if oauthError != "" {
		challenge += fmt.Sprintf(", error=%q, error_description=%q", oauthError, message)
	}
	return &authError{status: http.StatusUnauthorized, code: "unauthorized", message: message, challenge: challenge}
}

func forbidden(p Principal, scope string) *authError {
	return &authError{
		status:    http.StatusForbidden,
		code:      "forbidden",
		message:   fmt.Sprintf("%s lacks the scope %s", p.Name, scope),
		challenge: fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\", scope=%q", realm, scope),
	}
}

func (e *authError) write(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", e.challenge)
	writeError(w, e.status, e.code, e.message)
}

// authenticate returns who sent r.
func (a *authenticator) authenticate(r *http.Request) (Principal, *authError) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return Principal{}, unauthorized("an Authorization: Bearer <token> header is required", "")
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, unauthorized("the Authorization header must be Bearer <token>", "invalid_request")
	}
	if t, ok := a.tokens[hashOf(token)]; ok {
		return Principal{Name: "token:" + t.Name, Scopes: t.Scopes}, nil
	}
	if a.jwt != nil && strings.Count(token, ".") == 2 {
		p, err := a.jwt.verify(token)
		if err != nil {
			return Principal{}, unauthorized("invalid token: "+err.Error(), "invalid_token")
		}
		return p, nil
	}
	return Principal{}, unauthorized("invalid token", "invalid_token")
}

// authorize authenticates r and checks that it may use a route that needs
// scope. With authentication off every request may, as its remote IP.
func (g *Gateway) authorize(r *http.Request, scope string) (Principal, *authError) {
	if g.auth == nil {
		return Principal{Name: "ip:" + remoteIP(r)}, nil
	}
	p, err := g.auth.authenticate(r)
	if err != nil {
		return Principal{}, err
	}
	if !p.Allows(scope) {
		return Principal{}, forbidden(p, scope)
	}
	return p, nil
}

// require wraps h so that it runs only for requests whose token grants
// scope; an empty scope lets every request through.
func (g *Gateway) require(scope string, h http.Handler) http.Handler {
	if scope == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := g.authorize(r, scope); err != nil {
			err.write(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
