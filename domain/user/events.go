package user

import "github.com/jetsource/jetsource/codec"

// UserRegistered records a registration: the normalised username and the
// password's bcrypt hash, never the password.
type UserRegistered struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
}

// Events returns a new registry of the user's event types, each at schema
// version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[UserRegistered](r, "UserRegistered")
	return r
}
