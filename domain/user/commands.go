package user

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/internal/field"
)

// Username limits, in characters (all ASCII).
const (
	MinUsernameLength = 3
	MaxUsernameLength = 64
)

// Password limits, in bytes: bcrypt reads at most MaxPasswordBytes.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// redacted stands in for the password wherever a command is printed.
const redacted = "[redacted]"

// usernameChars is the alphabet of a normalised username.
var usernameChars = regexp.MustCompile(`^[a-z0-9_.-]*$`)

// Register is the data of the register command. It holds the plain password,
// so every way of printing or encoding it redacts the password.
type Register struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// NormalizedUsername is the username as stored and reserved: with ASCII
// letters lowered. Other characters are left as they are, so that Validate
// refuses them instead of their being folded into look-alikes (the Kelvin
// sign K would otherwise become k).
func (c Register) NormalizedUsername() string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, c.Username)
}

// Validate checks the username and the password's length. No message quotes
// the password.
func (c Register) Validate() error {
	u := c.NormalizedUsername()
	switch {
	case u == "":
		return aggregate.Invalid("username is required")
	case !usernameChars.MatchString(u):
		return aggregate.Invalid("username may only hold a-z, 0-9, '_', '.' and '-' (A-Z are lowered), got %s", field.Quote(c.Username))
	case len(u) < MinUsernameLength || len(u) > MaxUsernameLength:
		return aggregate.Invalid("username must be %d to %d characters, got %d", MinUsernameLength, MaxUsernameLength, len(u))
	case c.Password == "":
		return aggregate.Invalid("password is required")
	case len(c.Password) < MinPasswordBytes || len(c.Password) > MaxPasswordBytes:
		return aggregate.Invalid("password must be %d to %d bytes long (bcrypt reads at most %d bytes), got %d bytes",
			MinPasswordBytes, MaxPasswordBytes, MaxPasswordBytes, len(c.Password))
	}
	return nil
}

// String describes the command with the password redacted.
func (c Register) String() string {
	return fmt.Sprintf("Register{Username:%q Password:%s}", c.Username, redacted)
}

// GoString is String: %#v redacts the password too.
func (c Register) GoString() string { return c.String() }

// Format prints String under every verb (%v, %+v, %#v, %s, %q, %x …), so no
// verb reaches the password field.
func (c Register) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue redacts the password in log/slog records.
func (c Register) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", redacted))
}

// MarshalJSON encodes the command with the password redacted, for loggers
// and tools that encode values as JSON. Decoding is unaffected.
func (c Register) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{c.Username, redacted})
}

// Forget is the data of the forget command: none.
type Forget struct{}
