package admin_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/jetsource/jetsource/admin"
)

func TestRedactHidesTheValuesOfSecretFieldsOnly(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"username":"ada","password_hash":"$2a$10$x"}`, `{"username":"ada","password_hash":"[redacted]"}`},
		{`{"username":"ada","password_hash":null}`, `{"username":"ada","password_hash":null}`},
		{`{"username":"ada","nested":{"password_hash":"x"}}`, `{"username":"ada","nested":{"password_hash":"x"}}`},
		{`{"password_hash":{"a":1}}`, `{"password_hash":"[redacted]"}`},
		{`"password_hash"`, `"password_hash"`},
		{`[1,2]`, `[1,2]`},
	} {
		got := admin.Redact(json.RawMessage(c.in), []string{"password_hash"})
		assert.JSONEq(t, c.want, string(got), "in: %s", c.in)
	}
	same := json.RawMessage(`{"a":1}`)
	assert.Equal(t, same, admin.Redact(same, nil))
}
