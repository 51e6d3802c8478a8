package user

import "github.com/jetsource/jetsource/codec"

// UserRegistered records a registration: the normalised username and the
// password's bcrypt hash, never the password. Both are personal data: the
// event store keeps them sealed with the user's key (codec.WithPersonal),
// and once the user is forgotten they read as "".
type UserRegistered struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
}

// UserForgotten records that the user asked to be forgotten. It holds no
// personal data; once it is stored, the user's key is deleted, so the
// username and hash of every earlier event read as "" everywhere.
type UserForgotten struct{}

// Personal fields of UserRegistered, as named in its JSON.
const (
	fieldUsername     = "username"
	fieldPasswordHash = "password_hash"
)

// Events returns a new registry of the user's event types, each at schema
// version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[UserRegistered](r, "UserRegistered", codec.WithPersonal(fieldUsername, fieldPasswordHash), codec.WithSecret(fieldPasswordHash))
	codec.Register[UserForgotten](r, "UserForgotten", codec.Forgets())
	return r
}
