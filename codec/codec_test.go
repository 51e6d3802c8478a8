package codec_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/codec"
)

// MoneyDeposited is at schema 3: v1 had "amt" as a string, v2 renamed it to
// "amount" (still a string), v3 made it a number.
type MoneyDeposited struct {
	Amount int64 `json:"amount"`
}

func registry() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[MoneyDeposited](r, "MoneyDeposited", codec.WithSchema(3),
		codec.WithUpcaster(1, func(b json.RawMessage) (json.RawMessage, error) {
			var v1 struct{ Amt string }
			if err := json.Unmarshal(b, &v1); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]string{"amount": v1.Amt})
		}),
		codec.WithUpcaster(2, func(b json.RawMessage) (json.RawMessage, error) {
			var v2 struct {
				Amount json.Number `json:"amount"`
			}
			if err := json.Unmarshal(b, &v2); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]json.Number{"amount": v2.Amount})
		}))
	return r
}

func TestOldSchemasAreUpcastOnDecode(t *testing.T) {
	r := registry()
	for schema, payload := range map[int]string{1: `{"amt":"42"}`, 2: `{"amount":"42"}`, 3: `{"amount":42}`} {
		v, err := r.Decode("MoneyDeposited", schema, []byte(payload))
		require.NoError(t, err, "schema %d", schema)
		assert.Equal(t, MoneyDeposited{Amount: 42}, v)
	}
	enc, err := r.Encode(MoneyDeposited{Amount: 7})
	require.NoError(t, err)
	assert.Equal(t, codec.Encoded{Type: "MoneyDeposited", Schema: 3, Data: []byte(`{"amount":7}`), RoundTrips: true}, enc)
}

func TestDecodeErrors(t *testing.T) {
	r := registry()
	_, err := r.Decode("MoneyStolen", 1, []byte(`{}`))
	require.ErrorIs(t, err, codec.ErrUnknownType)
	_, err = r.Decode("MoneyDeposited", 4, []byte(`{}`))
	assert.ErrorContains(t, err, "newer than this program knows")
	_, err = r.Decode("MoneyDeposited", 3, []byte(`{"amount":"x"}`))
	assert.ErrorContains(t, err, "decode MoneyDeposited")
	_, err = r.Encode(struct{}{})
	require.ErrorIs(t, err, codec.ErrUnregistered)

	gap := codec.NewRegistry()
	codec.Register[MoneyDeposited](gap, "MoneyDeposited", codec.WithSchema(2))
	_, err = gap.Decode("MoneyDeposited", 1, []byte(`{}`))
	require.ErrorIs(t, err, codec.ErrNoUpcaster)
}

func TestEventNamesAreChecked(t *testing.T) {
	for _, bad := range []string{"", "moneyDeposited", "Money Deposited", "Money.Deposited", "Geld€"} {
		assert.Error(t, codec.ValidateName(bad), bad)
	}
	assert.NoError(t, codec.ValidateName("OrderItemQuantityChanged"))
	assert.Panics(t, func() {
		r := codec.NewRegistry()
		codec.Register[MoneyDeposited](r, "A")
		codec.Register[MoneyDeposited](r, "B")
	}, "a Go type registers once")
}

func TestPersonalFieldsAndForgettingAreDeclaredAtRegistration(t *testing.T) {
	type Named struct {
		Name string `json:"name"`
	}
	type Forgot struct{}
	r := codec.NewRegistry()
	codec.Register[Named](r, "Named", codec.WithPersonal("name"))
	codec.Register[Forgot](r, "Forgot", codec.Forgets())
	enc, err := r.Encode(Named{Name: "ada"})
	require.NoError(t, err)
	assert.Equal(t, []string{"name"}, enc.Personal)
	assert.False(t, enc.Forgets)
	enc, err = r.Encode(Forgot{})
	require.NoError(t, err)
	assert.Empty(t, enc.Personal)
	assert.True(t, enc.Forgets)
	assert.Equal(t, []string{"name"}, r.Personal("Named"))
	assert.True(t, r.Forgets("Forgot"))
	assert.False(t, r.Forgets("Named"))
	assert.False(t, r.Forgets("Unknown"))

	assert.PanicsWithValue(t, `codec: event type "Both" forgets its aggregate and cannot hold personal data itself`, func() {
		codec.Register[struct{ A int }](r, "Both", codec.Forgets(), codec.WithPersonal("a"))
	})
}

func TestSecretFieldsAreDeclaredAtRegistration(t *testing.T) {
	type Registered struct{}
	type Renamed struct{}
	type Closed struct{}
	r := codec.NewRegistry()
	codec.Register[Registered](r, "Registered", codec.WithPersonal("name", "hash"), codec.WithSecret("hash"))
	codec.Register[Renamed](r, "Renamed", codec.WithSecret("hash", "token"))
	codec.Register[Closed](r, "Closed")

	assert.Equal(t, []string{"hash"}, r.Secret("Registered"))
	assert.Equal(t, []string{"name", "hash"}, r.Personal("Registered"), "a secret field is not made personal, nor the other way round")
	assert.Nil(t, r.Secret("Closed"))
	assert.Nil(t, r.Secret("Unknown"))
	assert.Equal(t, []string{"hash", "token"}, r.Secrets(), "each name once, sorted")
}
