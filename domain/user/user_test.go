package user_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/user"
)

const secret = "correct horse battery staple"

func TestRegisterStoresOnlyAHash(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	dec, err := def.Decide("register", user.State{}, false, json.RawMessage(`{"username":"Ada.L","password":"`+secret+`"}`))
	require.NoError(t, err)
	assert.Equal(t, "ada.l", dec.Unique, "the normalised username is reserved")
	require.Len(t, dec.Events, 1)
	ev := dec.Events[0].(user.UserRegistered)
	assert.Equal(t, "ada.l", ev.Username)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(ev.PasswordHash), []byte(secret)))

	enc, err := def.Events.Encode(ev)
	require.NoError(t, err)
	assert.NotContains(t, string(enc.Data), secret)
	assert.Contains(t, string(enc.Data), `"password_hash"`)
}

func TestRegisterErrorsNeverQuoteThePassword(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	long := strings.Repeat("p", 73)
	cases := []struct{ name, data, msg string }{
		{"short username", `{"username":"ab","password":"` + secret + `"}`, "username must be 3 to 64"},
		{"bad username", `{"username":"a b c","password":"` + secret + `"}`, "username must be"},
		{"short password", `{"username":"ada","password":"short"}`, "password must be 8 to 72 bytes"},
		{"long password", `{"username":"ada","password":"` + long + `"}`, "got 73 bytes"},
		{"password not a string", `{"username":"ada","password":12345678}`, `field "password"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := def.Decide("register", user.State{}, false, json.RawMessage(c.data))
			require.ErrorIs(t, err, aggregate.ErrInvalid)
			assert.Contains(t, err.Error(), c.msg)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), long)
		})
	}
	_, err := def.Decide("register", user.State{Username: "ada"}, true, json.RawMessage(`{"username":"ada","password":"`+secret+`"}`))
	require.ErrorIs(t, err, aggregate.ErrExists)
}

func TestRegisterCommandRedactsThePassword(t *testing.T) {
	c := user.Register{Username: "ada", Password: secret}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v", &c)} {
		assert.NotContains(t, s, secret)
		assert.Contains(t, s, "redacted")
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("command", "cmd", c)
	assert.NotContains(t, b.String(), secret)
}

func TestUserReplay(t *testing.T) {
	s := user.Evolve(user.State{}, user.UserRegistered{Username: "ada", PasswordHash: "h"})
	assert.Equal(t, user.State{Username: "ada", PasswordHash: "h"}, s)
}
