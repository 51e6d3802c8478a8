// Package user is the sample user aggregate: registration with a unique
// username and a password kept only as a bcrypt hash.
//
// Command: register {username, password}. Event: UserRegistered {username,
// password_hash}. The plain password never reaches an event, a log, an error
// or a reply: the command redacts it when printed, and only its hash is
// stored. Usernames are normalised to lower case and declared unique with
// aggregate.Unique, so the writer reserves them race-free.
package user

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
)

// Type is the aggregate type.
const Type = "user"

// Password limits: bcrypt reads at most 72 bytes.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// DefaultCost is the bcrypt cost of Definition.
const DefaultCost = bcrypt.DefaultCost

var usernamePattern = regexp.MustCompile(`^[a-z0-9_.-]{3,64}$`)

// State is a user's state.
type State struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
}

// UserRegistered records a registration. It holds the password's bcrypt
// hash, never the password.
type UserRegistered struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
}

// Register is the register command.
type Register struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// NormalizedUsername is the username as stored and reserved: lower case.
func (c Register) NormalizedUsername() string { return strings.ToLower(c.Username) }

// Validate checks both fields. Messages never quote the password.
func (c Register) Validate() error {
	if u := c.NormalizedUsername(); !usernamePattern.MatchString(u) {
		return aggregate.Invalid("username must be 3 to 64 characters of a-z, 0-9, '_', '.' and '-', got %q", u)
	}
	if n := len(c.Password); n < MinPasswordBytes || n > MaxPasswordBytes {
		return aggregate.Invalid("password must be %d to %d bytes long (bcrypt reads at most %d), got %d bytes",
			MinPasswordBytes, MaxPasswordBytes, MaxPasswordBytes, n)
	}
	return nil
}

// String redacts the password.
func (c Register) String() string {
	return fmt.Sprintf("Register{Username:%q Password:[redacted]}", c.Username)
}

// GoString redacts the password.
func (c Register) GoString() string { return c.String() }

// Format redacts the password under every verb, %+v and %#v included.
func (c Register) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue redacts the password in slog records.
func (c Register) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", "[redacted]"))
}

// Events returns a registry of the user's event types.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[UserRegistered](r, "UserRegistered")
	return r
}

// Definition returns the user aggregate, hashing with DefaultCost.
func Definition() aggregate.Definition[State] { return DefinitionWithCost(DefaultCost) }

// DefinitionWithCost returns the user aggregate hashing passwords with the
// given bcrypt cost (tests use bcrypt.MinCost).
func DefinitionWithCost(cost int) aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"register": aggregate.Create[State](func(c Register) ([]any, error) {
				hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), cost)
				if err != nil {
					return nil, fmt.Errorf("hash password: %w", err)
				}
				return []any{UserRegistered{Username: c.NormalizedUsername(), PasswordHash: string(hash)}}, nil
			}, aggregate.Unique(Register.NormalizedUsername)),
		},
	}
}

// Evolve folds one event into the state.
func Evolve(s State, event any) State {
	if e, ok := event.(UserRegistered); ok {
		s.Username, s.PasswordHash = e.Username, e.PasswordHash
	}
	return s
}
