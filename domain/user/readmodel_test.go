package user_test

import (
	"testing"

	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/testkit"
)

// A username is found as registration stored it, whatever the case it is
// asked in; the password hash never reaches the read model.
func TestUserIsFoundByItsUsernameInAnyCase(t *testing.T) {
	get := user.Queries()[0]
	testkit.Projection(t, user.Projection(), user.Events()).
		Given("user", "u1", user.UserRegistered{Username: "ada", PasswordHash: "$2a$04$secret"}).
		Then(get, `{"username":"Ada"}`, `{"id":"u1","username":"ada"}`).
		Then(get, `{"username":"ada"}`, `{"id":"u1","username":"ada"}`).
		ThenError(get, `{"username":"bob"}`, projections.ErrNotFound)
}
