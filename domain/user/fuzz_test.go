package user_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/user"
)

// FuzzDecideUser feeds register arbitrary bytes as data, and a fixed
// password inside an arbitrary username and arbitrary trailing fields: it
// never panics, fails only with ErrInvalid, never repeats the password in an
// error, and otherwise decides a registration whose hash verifies.
func FuzzDecideUser(f *testing.F) {
	for _, data := range []string{``, `{}`, `[]`, `"x"`, registerData("ada", secret), registerData("ab", secret),
		registerData("ada", "short"), `{"username":"ada","password":1}`, `{"username":"Ada","password":"12345678","x":1}`} {
		f.Add([]byte(data), "ada")
	}
	f.Add([]byte(`,"x":1`), "a b")
	f.Add([]byte(`}`), "ADA")
	def := user.DefinitionWithCost(bcrypt.MinCost)
	f.Fuzz(func(t *testing.T, data []byte, username string) {
		// Arbitrary bytes as the whole data.
		dec, err := def.Decide("register", user.State{}, false, json.RawMessage(data))
		if err != nil {
			require.True(t, errors.Is(err, aggregate.ErrInvalid), "unexpected error %v", err)
		} else {
			var cmd struct{ Password string }
			require.NoError(t, json.Unmarshal(data, &cmd))
			requireRegistration(t, dec, cmd.Password)
		}

		// The test's password between an arbitrary username and arbitrary
		// trailing bytes.
		name, _ := json.Marshal(username)
		framed := append([]byte(`{"username":`+string(name)+`,"password":"`+secret+`"`), data...)
		dec, err = def.Decide("register", user.State{}, false, json.RawMessage(framed))
		if err != nil {
			require.True(t, errors.Is(err, aggregate.ErrInvalid), "unexpected error %v", err)
			if !strings.Contains(username, secret) && !bytes.Contains(data, []byte(secret)) {
				require.NotContains(t, err.Error(), secret)
			}
			return
		}
		var cmd struct{ Password string }
		require.NoError(t, json.Unmarshal(framed, &cmd))
		requireRegistration(t, dec, cmd.Password)
	})
}

func requireRegistration(t *testing.T, dec aggregate.Decision, password string) {
	t.Helper()
	require.Len(t, dec.Events, 1)
	ev, ok := dec.Events[0].(user.UserRegistered)
	require.True(t, ok, "decided %T", dec.Events[0])
	require.Equal(t, ev.Username, dec.Unique)
	require.NoError(t, user.Register{Username: ev.Username, Password: "12345678"}.Validate(), "the stored username is valid")
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(ev.PasswordHash), []byte(password)))
}
