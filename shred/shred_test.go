package shred_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/shred"
	"github.com/jetsource/jetsource/testkit"
)

const (
	subject  = "user.u-1"
	hash     = "$2a$04$abcdefghijklmnopqrstuv"
	username = "ada"
)

var payload = []byte(`{"username":"ada","password_hash":"` + hash + `","age":36}`)

func newKeyring(t *testing.T) (*shred.Keyring, jetstream.KeyValue, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	js, err := jetstream.New(testkit.StartNATS(t).Connect())
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, shred.BucketConfig(shred.DefaultBucket))
	require.NoError(t, err)
	return shred.NewKeyring(kv), kv, ctx
}

func seal(t *testing.T, k *shred.Keyring, ctx context.Context) []byte {
	t.Helper()
	sealed, err := k.Seal(ctx, subject, "UserRegistered", payload, []string{"username", "password_hash", "absent"})
	require.NoError(t, err)
	return sealed
}

func TestSealedFieldsHoldNoPlaintextAndOpenBack(t *testing.T) {
	k, _, ctx := newKeyring(t)
	sealed := seal(t, k, ctx)
	assert.NotContains(t, string(sealed), username)
	assert.NotContains(t, string(sealed), hash)

	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(sealed, &fields))
	assert.JSONEq(t, `36`, string(fields["age"]), "a field not named stays plain")
	assert.NotContains(t, fields, "absent", "an absent field is not made up")
	var wire struct{ Enc, KID, CT string }
	require.NoError(t, json.Unmarshal(fields["username"], &wire))
	assert.Equal(t, shred.FormatV1, wire.Enc)
	assert.NotEmpty(t, wire.KID)
	ct, err := base64.StdEncoding.DecodeString(wire.CT)
	require.NoError(t, err)
	assert.Len(t, ct, 12+len(`"ada"`)+16, "nonce, ciphertext of the JSON value, tag")

	plain, forgotten, err := k.Open(ctx, subject, "UserRegistered", sealed)
	require.NoError(t, err)
	assert.Empty(t, forgotten)
	assert.JSONEq(t, string(payload), string(plain))
}

func TestForgottenSubjectReadsAsNull(t *testing.T) {
	k, kv, ctx := newKeyring(t)
	sealed := seal(t, k, ctx)
	other, err := k.Seal(ctx, "user.u-2", "UserRegistered", []byte(`{"username":"bob"}`), []string{"username"})
	require.NoError(t, err)

	require.NoError(t, k.Forget(ctx, subject))
	require.NoError(t, k.Forget(ctx, subject), "forgetting twice is a no-op")
	_, err = kv.Get(ctx, subject)
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
	held, err := k.Holds(ctx, subject)
	require.NoError(t, err)
	assert.False(t, held)

	plain, forgotten, err := k.Open(ctx, subject, "UserRegistered", sealed)
	require.NoError(t, err)
	assert.Equal(t, []string{"password_hash", "username"}, forgotten)
	assert.JSONEq(t, `{"username":null,"password_hash":null,"age":36}`, string(plain))

	// A key made after the forget does not open what was sealed before.
	_, err = k.Seal(ctx, subject, "UserRegistered", []byte(`{"username":"new"}`), []string{"username"})
	require.NoError(t, err)
	plain, forgotten, err = k.Open(ctx, subject, "UserRegistered", sealed)
	require.NoError(t, err)
	assert.Len(t, forgotten, 2)
	assert.NotContains(t, string(plain), username)

	// Another subject is untouched.
	plain, forgotten, err = k.Open(ctx, "user.u-2", "UserRegistered", other)
	require.NoError(t, err)
	assert.Empty(t, forgotten)
	assert.JSONEq(t, `{"username":"bob"}`, string(plain))
}

func TestSealedFieldIsBoundToItsSubjectTypeAndField(t *testing.T) {
	k, _, ctx := newKeyring(t)
	sealed := seal(t, k, ctx)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(sealed, &fields))

	swapped, err := json.Marshal(map[string]json.RawMessage{"username": fields["password_hash"]})
	require.NoError(t, err)
	_, _, err = k.Open(ctx, subject, "UserRegistered", swapped)
	assert.ErrorIs(t, err, shred.ErrTampered, "a value moved to another field")

	_, _, err = k.Open(ctx, subject, "UserRenamed", sealed)
	assert.ErrorIs(t, err, shred.ErrTampered, "a value under another event type")

	// Same key id under another subject: copy the key to make the case.
	_, err = k.Seal(ctx, "user.u-2", "UserRegistered", []byte(`{"username":"bob"}`), []string{"username"})
	require.NoError(t, err)
	_, _, err = k.Open(ctx, "user.u-2", "UserRegistered", sealed)
	require.NoError(t, err, "another subject's key id reads as forgotten, never as the other's data")
}

func TestPlainPayloadsPassUntouched(t *testing.T) {
	k, _, ctx := newKeyring(t)
	for _, data := range []string{`{"n":1}`, `{"enc":"v1"}`, `{"a":{"enc":"v1","kid":"k"}}`, `[1,2]`, `"enc"`} {
		plain, forgotten, err := k.Open(ctx, subject, "Added", []byte(data))
		require.NoError(t, err, data)
		assert.Empty(t, forgotten, data)
		assert.Equal(t, data, string(plain), data)
	}
	out, err := k.Seal(ctx, subject, "Added", []byte(`{"username":null}`), []string{"username"})
	require.NoError(t, err)
	assert.Equal(t, `{"username":null}`, string(out), "null is not sealed")
	held, err := k.Holds(ctx, subject)
	require.NoError(t, err)
	assert.False(t, held, "no key is made when nothing is sealed")
}
