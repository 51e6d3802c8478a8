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
	"github.com/jetsource/jetsource/testkit"
)

// secret is the password of the tests: it must never show up anywhere but
// in the command's data.
const secret = "correct horse battery staple"

// registered is the event that created user ada.
var registered = user.UserRegistered{Username: "ada", PasswordHash: "$2a$04$abcdefghijklmnopqrstuv"}

// registerData is the data of a register command.
func registerData(username, password string) string {
	b, err := json.Marshal(map[string]string{"username": username, "password": password})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestDefinitionIsValidAndFresh(t *testing.T) {
	a, b := user.DefinitionWithCost(bcrypt.MinCost), user.DefinitionWithCost(bcrypt.MinCost)
	require.NoError(t, a.Validate())
	require.NoError(t, user.Definition().Validate())
	assert.Equal(t, user.Type, a.Type)
	assert.NotSame(t, a.Events, b.Events, "each Definition builds its own registry")
	assert.True(t, a.Creates("register"))
}

func TestDefinitionWithCostRefusesAnImpossibleCost(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost - 1, 0, -1, bcrypt.MaxCost + 1} {
		assert.PanicsWithValue(t, fmt.Sprintf("user: bcrypt cost %d is outside 4 to 31", cost), func() { user.DefinitionWithCost(cost) })
	}
}

func TestRegisterStoresOnlyAHashAndReservesTheUsername(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	dec := testkit.Aggregate(t, def).When("register", registerData("Ada.Lovelace_1815-x", secret)).
		ThenUnique("ada.lovelace_1815-x"). // the normalised username is reserved
		Decision()
	require.Len(t, dec.Events, 1)
	ev, ok := dec.Events[0].(user.UserRegistered)
	require.True(t, ok, "decided %T", dec.Events[0])
	assert.Equal(t, "ada.lovelace_1815-x", ev.Username)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(ev.PasswordHash), []byte(secret)))
	assert.ErrorIs(t, bcrypt.CompareHashAndPassword([]byte(ev.PasswordHash), []byte(secret+"!")), bcrypt.ErrMismatchedHashAndPassword)
	cost, err := bcrypt.Cost([]byte(ev.PasswordHash))
	require.NoError(t, err)
	assert.Equal(t, bcrypt.MinCost, cost)

	enc, err := def.Events.Encode(ev)
	require.NoError(t, err)
	assert.Equal(t, "UserRegistered", enc.Type)
	assert.NotContains(t, string(enc.Data), secret)
	assert.NotContains(t, string(enc.Data), `"password"`)
	assert.Contains(t, string(enc.Data), `"password_hash":"$2a$04$`)
	assert.NotContains(t, fmt.Sprintf("%+v %#v", dec, dec), secret)
}

func TestDefinitionHashesWithTheDefaultCost(t *testing.T) {
	dec := testkit.Aggregate(t, user.Definition()).When("register", registerData("ada", secret)).ThenUnique("ada").Decision()
	require.Len(t, dec.Events, 1)
	cost, err := bcrypt.Cost([]byte(dec.Events[0].(user.UserRegistered).PasswordHash))
	require.NoError(t, err)
	assert.Equal(t, user.DefaultCost, cost)
	assert.Equal(t, bcrypt.DefaultCost, user.DefaultCost)
}

func TestRegisterAcceptsTheLimits(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	cases := []struct{ name, username, password, normalised string }{
		{"shortest username", "abc", secret, "abc"},
		{"longest username", strings.Repeat("A", 64), secret, strings.Repeat("a", 64)},
		{"every allowed character", "a-Z_0.9", secret, "a-z_0.9"},
		{"shortest password", "ada", "12345678", "ada"},
		{"longest password", "ada", strings.Repeat("p", 72), "ada"},
		{"multi-byte password", "ada", "pässwörd", "ada"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := testkit.Aggregate(t, def).When("register", registerData(c.username, c.password)).ThenUnique(c.normalised).Decision()
			require.Len(t, dec.Events, 1)
			ev := dec.Events[0].(user.UserRegistered)
			assert.Equal(t, c.normalised, ev.Username)
			require.NoError(t, bcrypt.CompareHashAndPassword([]byte(ev.PasswordHash), []byte(c.password)))
		})
	}
}

func TestRegisterErrorsNeverQuoteThePassword(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	long := strings.Repeat("s3cret", 13) // 78 bytes
	cases := []struct {
		name, data, password string
		err                  error
		msg                  string
	}{
		{"missing username", `{"password":"` + secret + `"}`, secret, aggregate.ErrInvalid, "username is required"},
		{"short username", registerData("ab", secret), secret, aggregate.ErrInvalid, "username must be 3 to 64 characters, got 2"},
		{"long username", registerData(strings.Repeat("a", 65), secret), secret, aggregate.ErrInvalid, "username must be 3 to 64 characters, got 65"},
		{"space in username", registerData("a b", secret), secret, aggregate.ErrInvalid, `username may only hold a-z, 0-9, '_', '.' and '-' (A-Z are lowered), got "a b"`},
		{"at sign in username", registerData("ada@example.com", secret), secret, aggregate.ErrInvalid, `got "ada@example.com"`},
		{"non-ASCII username", registerData("adé", secret), secret, aggregate.ErrInvalid, `got "adé"`},
		{"Kelvin sign in username", registerData("\u212aate", secret), secret, aggregate.ErrInvalid, "username may only hold"},
		{"control character in username", registerData("ada\x00", secret), secret, aggregate.ErrInvalid, `got "ada\x00"`},
		{"username not a string", `{"username":7,"password":"` + secret + `"}`, secret, aggregate.ErrInvalid, `field "username" must be a string`},
		{"missing password", `{"username":"ada"}`, "", aggregate.ErrInvalid, "password is required"},
		{"short password", registerData("ada", "1234567"), "1234567", aggregate.ErrInvalid, "password must be 8 to 72 bytes long (bcrypt reads at most 72 bytes), got 7 bytes"},
		{"long password", registerData("ada", long), long, aggregate.ErrInvalid, "got 78 bytes"},
		{"password counted in bytes", registerData("ada", strings.Repeat("é", 37)), strings.Repeat("é", 37), aggregate.ErrInvalid, "got 74 bytes"},
		{"password not a string", `{"username":"ada","password":12345678}`, "12345678", aggregate.ErrInvalid, `field "password" must be a string`},
		{"password an array", `{"username":"ada","password":["` + secret + `"]}`, secret, aggregate.ErrInvalid, `field "password" must be a string`},
		{"unknown field", `{"username":"ada","password":"` + secret + `","password2":"` + secret + `"}`, secret, aggregate.ErrInvalid, `unknown field "password2"`},
		{"trailing content", registerData("ada", secret) + `"` + secret + `"`, secret, aggregate.ErrInvalid, "unexpected content after the JSON object"},
		{"malformed JSON", `{"username":"ada","password":"` + secret + `",}`, secret, aggregate.ErrInvalid, "data: "},
		{"array", `["ada","` + secret + `"]`, secret, aggregate.ErrInvalid, "data must be a JSON object"},
		{"string", `"` + secret + `"`, secret, aggregate.ErrInvalid, "data must be a JSON object"},
		{"no data", ``, "", aggregate.ErrInvalid, "username is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := testkit.Aggregate(t, def).When("register", c.data).ThenError(c.err).ThenErrorContains(c.msg).Err()
			if c.password != "" && err != nil {
				assert.NotContains(t, err.Error(), c.password)
			}
		})
	}
}

func TestRegisterRefusesAnExistingUser(t *testing.T) {
	err := testkit.Aggregate(t, user.DefinitionWithCost(bcrypt.MinCost)).Given(registered).When("register", registerData("ada", secret)).
		ThenError(aggregate.ErrExists).
		ThenErrorContains("already exists").
		Err()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
}

func TestUnknownCommand(t *testing.T) {
	err := testkit.Aggregate(t, user.DefinitionWithCost(bcrypt.MinCost)).Given(registered).When("login", registerData("ada", secret)).
		ThenError(aggregate.ErrUnknownCommand).
		ThenErrorContains(`user has no command "login"`).
		Err()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
}

func TestRegisterCommandRedactsThePassword(t *testing.T) {
	c := user.Register{Username: "ada", Password: secret}
	nested := struct {
		Cmd  user.Register
		Ptr  *user.Register
		List []user.Register
	}{c, &c, []user.Register{c}}
	printed := map[string]string{
		"Sprint":  fmt.Sprint(c),
		"%v":      fmt.Sprintf("%v", c),
		"%+v":     fmt.Sprintf("%+v", c),
		"%#v":     fmt.Sprintf("%#v", c),
		"%s":      fmt.Sprintf("%s", c),
		"%q":      fmt.Sprintf("%q", c),
		"%x":      fmt.Sprintf("%x", c),
		"pointer": fmt.Sprintf("%+v", &c),
		"nested":  fmt.Sprintf("%+v", nested),
		"nested#": fmt.Sprintf("%#v", nested),
		"String":  c.String(),
		"Go":      c.GoString(),
	}
	for name, s := range printed {
		assert.NotContains(t, s, secret, name)
		assert.Contains(t, s, "[redacted]", name)
	}
	assert.Equal(t, `Register{Username:"ada" Password:[redacted]}`, fmt.Sprint(c))

	var text, js strings.Builder
	slog.New(slog.NewTextHandler(&text, nil)).Info("command", "cmd", c, "ptr", &c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("command", "cmd", c)
	assert.NotContains(t, text.String(), secret)
	assert.Contains(t, text.String(), "cmd.username=ada cmd.password=[redacted]")
	assert.NotContains(t, js.String(), secret)
	assert.Contains(t, js.String(), `"cmd":{"username":"ada","password":"[redacted]"}`)

	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"username":"ada","password":"[redacted]"}`, string(b))
}

func TestEvolveReplaysEvents(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	s := def.New()
	for _, e := range []any{user.UserRegistered{Username: "ada", PasswordHash: "$2a$04$hash"}, struct{}{}, nil} {
		s = def.Evolve(s, e)
	}
	assert.Equal(t, user.State{Username: "ada", PasswordHash: "$2a$04$hash"}, s)
}

func TestEventsRoundTripThroughTheRegistry(t *testing.T) {
	reg := user.Events()
	ev := registered
	enc, err := reg.Encode(ev)
	require.NoError(t, err)
	assert.Equal(t, "UserRegistered", enc.Type)
	assert.Equal(t, 1, enc.Schema)
	assert.JSONEq(t, `{"username":"ada","password_hash":"$2a$04$abcdefghijklmnopqrstuv"}`, string(enc.Data))
	back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
	require.NoError(t, err)
	assert.Equal(t, ev, back)
}

func TestForgetForgetsTheUserAndGivesBackTheUsername(t *testing.T) {
	def := user.DefinitionWithCost(bcrypt.MinCost)
	dec := testkit.Aggregate(t, def).Given(registered).When("forget", `{}`).Then(user.UserForgotten{}).Decision()
	assert.Equal(t, "ada", dec.Release)
	assert.Equal(t, user.State{Forgotten: true}, def.Evolve(def.Evolve(def.New(), registered), user.UserForgotten{}))

	dec = testkit.Aggregate(t, def).Given(registered, user.UserForgotten{}).When("forget", `{}`).Then().Decision()
	assert.Empty(t, dec.Release, "forgetting a forgotten user appends and releases nothing")
	testkit.Aggregate(t, def).When("forget", `{}`).ThenError(aggregate.ErrNotFound)
	testkit.Aggregate(t, def).Given(registered).When("forget", `{"why":"x"}`).ThenError(aggregate.ErrInvalid)
	testkit.Aggregate(t, def).Given(registered, user.UserForgotten{}).When("register", registerData("ada", secret)).ThenError(aggregate.ErrExists)
}

func TestUserEventsDeclareTheirPersonalData(t *testing.T) {
	reg := user.Events()
	assert.ElementsMatch(t, []string{"username", "password_hash"}, reg.Personal("UserRegistered"))
	assert.True(t, reg.Forgets("UserForgotten"))
	enc, err := reg.Encode(user.UserForgotten{})
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(enc.Data))
	assert.Empty(t, enc.Personal, "UserForgotten holds no personal data")
}
