package gateway

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	// MinTokenLength is the shortest token HashToken accepts: with a fast
	// hash at rest, a token must be too random to guess.
	MinTokenLength = 32
	// tokenPrefix marks the tokens NewToken makes, so that one found in a
	// log or a repository is recognised for what it is.
	tokenPrefix = "jst_"
	// tokenRandomBytes is the randomness of a token NewToken makes.
	tokenRandomBytes = 32
	// hashScheme prefixes a token's hash, so that another scheme can be
	// added without ambiguity.
	hashScheme = "sha256:"
	// maxTokensFileBytes caps the tokens file: a larger one is a mistake.
	maxTokensFileBytes = 1 << 20
)

var (
	// ErrShortToken is returned by HashToken for a token too short to be
	// safe behind a fast hash.
	ErrShortToken = errors.New("gateway: token too short")
	// ErrBadTokens is wrapped by the errors of ParseTokens and New for a
	// token entry that cannot be used.
	ErrBadTokens = errors.New("gateway: bad token settings")
)

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)

// Token is a static bearer token as the settings hold it: its name, the
// SHA-256 of the token (never the token itself) and the scopes it grants.
type Token struct {
	// Name identifies the client in logs and in the long-poll limit.
	Name string `yaml:"name"`
	// Hash is HashToken's result: "sha256:" and 64 hex digits.
	Hash string `yaml:"hash"`
	// Scopes are what the token grants: admin, cmd:<type>, cmd:*,
	// query:<model> or query:*.
	Scopes []string `yaml:"scopes"`
}

// NewToken returns a new random token (256 bits, URL-safe): give it to the
// client once and keep only HashToken's result.
func NewToken() (string, error) {
	b := make([]byte, tokenRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("gateway: new token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the hash of token to put in the settings (Token.Hash):
// "sha256:" and the hex SHA-256 of the token. It refuses a token shorter
// than MinTokenLength (see the package doc for why SHA-256 is enough).
func HashToken(token string) (string, error) {
	if len(token) < MinTokenLength {
		return "", fmt.Errorf("%w: %d characters, at least %d needed (make one with NewToken)", ErrShortToken, len(token), MinTokenLength)
	}
	return hashOf(token), nil
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashScheme + hex.EncodeToString(sum[:])
}

// check reports what makes the entry unusable, naming it by its position.
func (t Token) check(i int) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: token %d (%q): %s", ErrBadTokens, i+1, t.Name, fmt.Sprintf(format, args...)))
	}
	if !tokenName.MatchString(t.Name) {
		bad("name must match %s", tokenName)
	}
	digits, ok := strings.CutPrefix(t.Hash, hashScheme)
	if raw, err := hex.DecodeString(digits); !ok || err != nil || len(raw) != sha256.Size {
		bad("hash must be %q and 64 hex digits, as HashToken makes (the settings hold no token, only its hash)", hashScheme)
	}
	if len(t.Scopes) == 0 {
		bad("it grants no scope")
	}
	for _, s := range t.Scopes {
		if !ValidScope(s) {
			bad("unknown scope %q: use admin, cmd:<type>, cmd:*, query:<model> or query:*", s)
		}
	}
	return errors.Join(errs...)
}

// tokensFile is the layout of the file LoadTokens reads.
type tokensFile struct {
	Tokens []Token `yaml:"tokens"`
}

// LoadTokens reads the static tokens from a YAML file:
//
//	tokens:
//	  - name: billing
//	    hash: sha256:3b1f…      # HashToken(token)
//	    scopes: [cmd:account, query:account]
func LoadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: tokens file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokensFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gateway: tokens file: %w", err)
	}
	if len(data) > maxTokensFileBytes {
		return nil, fmt.Errorf("gateway: tokens file %s is larger than %d bytes", path, maxTokensFileBytes)
	}
	tokens, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tokens, nil
}

// ParseTokens reads the static tokens from YAML (the layout of LoadTokens)
// and checks each: a name, a hash as HashToken makes, known scopes.
func ParseTokens(data []byte) ([]Token, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var file tokensFile
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrBadTokens, err)
	}
	if len(file.Tokens) == 0 {
		// Without tokens (and a JWT key) the gateway asks for none: a file
		// meant to turn authentication on must not quietly turn it off.
		return nil, fmt.Errorf("%w: no tokens: list them under \"tokens:\"", ErrBadTokens)
	}
	if err := checkTokens(file.Tokens); err != nil {
		return nil, err
	}
	return file.Tokens, nil
}

// checkTokens checks every entry, and that no name or hash repeats.
func checkTokens(tokens []Token) error {
	var errs []error
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, t := range tokens {
		errs = append(errs, t.check(i))
		if names[t.Name] {
			errs = append(errs, fmt.Errorf("%w: token %d: the name %q is used twice", ErrBadTokens, i+1, t.Name))
		}
		if hashes[t.Hash] {
			errs = append(errs, fmt.Errorf("%w: token %d (%q): the same hash is used twice", ErrBadTokens, i+1, t.Name))
		}
		names[t.Name], hashes[t.Hash] = true, true
	}
	return errors.Join(errs...)
}
