package gateway

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultScopeClaim is the JWT claim that holds the scopes, space-separated
// (RFC 8693).
const DefaultScopeClaim = "scope"

// minHS256SecretBytes is the shortest HS256 secret accepted: RFC 7518 asks
// for a key at least as long as the hash.
const minHS256SecretBytes = 32

// ErrBadJWTKey is wrapped by the errors of a JWT setting that cannot be
// used: no key, a short secret, a public key of another kind.
var ErrBadJWTKey = errors.New("gateway: bad JWT key")

// JWT verifies JSON Web Tokens from an identity provider. Set Secret, or
// PublicKey, or both; only their algorithms are accepted.
type JWT struct {
	// Secret verifies HS256 tokens; at least 32 bytes.
	Secret []byte
	// PublicKey verifies RS256 (an *rsa.PublicKey) or EdDSA (an
	// ed25519.PublicKey) tokens; ParsePublicKey reads one from PEM.
	PublicKey crypto.PublicKey
	// Issuer, when set, must be the token's iss.
	Issuer string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// ScopeClaim names the claim that holds the scopes (default
	// DefaultScopeClaim): a space-separated string or an array of strings.
	ScopeClaim string
	// Leeway allows for clock skew in exp and nbf.
	Leeway time.Duration
}

// jwtVerifier is a checked JWT with its parser.
type jwtVerifier struct {
	cfg    JWT
	parser *jwt.Parser
}

func newJWTVerifier(cfg JWT) (*jwtVerifier, error) {
	var methods []string
	switch {
	case cfg.Secret == nil && cfg.PublicKey == nil:
		return nil, fmt.Errorf("%w: set a secret (HS256) or a public key (RS256, EdDSA)", ErrBadJWTKey)
	case cfg.Secret != nil && len(cfg.Secret) < minHS256SecretBytes:
		return nil, fmt.Errorf("%w: the HS256 secret has %d bytes, at least %d needed", ErrBadJWTKey, len(cfg.Secret), minHS256SecretBytes)
	}
	if cfg.Secret != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	switch k := cfg.PublicKey.(type) {
	case nil:
	case *rsa.PublicKey:
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	case ed25519.PublicKey:
		methods = append(methods, jwt.SigningMethodEdDSA.Alg())
	default:
		return nil, fmt.Errorf("%w: a public key of type %T; use RSA (RS256) or Ed25519 (EdDSA)", ErrBadJWTKey, k)
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = DefaultScopeClaim
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &jwtVerifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// verify checks the token's signature and claims and returns its principal.
func (v *jwtVerifier) verify(token string) (Principal, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// The parser has already refused the algorithms of no configured key.
		if t.Method.Alg() == jwt.SigningMethodHS256.Alg() {
			return v.cfg.Secret, nil
		}
		return v.cfg.PublicKey, nil
	})
	if err != nil {
		return Principal{}, err
	}
	sub, _ := claims.GetSubject()
	return Principal{Name: "jwt:" + sub, Scopes: scopesOf(claims[v.cfg.ScopeClaim])}, nil
}

// scopesOf reads a scope claim: a space-separated string or an array of
// strings; anything else grants nothing.
func scopesOf(claim any) []string {
	switch c := claim.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, s := range c {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ParsePublicKey reads a PEM public key (PKIX "PUBLIC KEY", or PKCS #1 "RSA
// PUBLIC KEY") for JWT.PublicKey: RSA or Ed25519.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadJWTKey)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: a PEM block of type %q, want PUBLIC KEY", ErrBadJWTKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJWTKey, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("%w: a public key of type %T; use RSA (RS256) or Ed25519 (EdDSA)", ErrBadJWTKey, key)
}

// LoadJWTKeys reads the keys of a JWT from files, either of which may be
// empty: secretFile holds the HS256 secret (its bytes, surrounding white
// space removed), publicKeyFile a PEM public key.
func LoadJWTKeys(secretFile, publicKeyFile string) (JWT, error) {
	var cfg JWT
	if secretFile != "" {
		data, err := os.ReadFile(secretFile)
		if err != nil {
			return JWT{}, fmt.Errorf("gateway: JWT secret: %w", err)
		}
		cfg.Secret = []byte(strings.TrimSpace(string(data)))
	}
	if publicKeyFile != "" {
		data, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return JWT{}, fmt.Errorf("gateway: JWT public key: %w", err)
		}
		if cfg.PublicKey, err = ParsePublicKey(data); err != nil {
			return JWT{}, fmt.Errorf("%s: %w", publicKeyFile, err)
		}
	}
	return cfg, nil
}
