package field_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/internal/field"
)

func TestName(t *testing.T) {
	cases := []struct{ name, v, msg string }{
		{"plain", "Ada Lovelace", ""},
		{"at the limit", strings.Repeat("ß", 12), ""},
		{"empty", "", "owner is required"},
		{"blank", " \t\u3000", "owner must not be blank"},
		{"invalid UTF-8", "ada\xff", "owner must be valid UTF-8"},
		{"too long", strings.Repeat("ß", 13), "owner must be at most 12 characters, got 13"},
		{"control character", "a\u0085b", `owner must not contain control characters, got "a\u0085b"`},
		{"DEL", "a\x7f", "control characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := field.Name("owner", c.v, 12)
			if c.msg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, aggregate.ErrInvalid)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestPositive(t *testing.T) {
	require.NoError(t, field.Positive("amount", 1))
	for _, v := range []int64{0, -1, -9223372036854775808} {
		err := field.Positive("amount", v)
		require.ErrorIs(t, err, aggregate.ErrInvalid)
		assert.Contains(t, err.Error(), "amount must be a positive integer, got ")
	}
}

func TestID(t *testing.T) {
	for _, ok := range []string{"a", "9a37", "A-z_0", strings.Repeat("x", 128)} {
		require.NoError(t, field.ID("item_id", ok), ok)
	}
	cases := []struct{ v, msg string }{
		{"", "item_id is required"},
		{"a.b", `got "a.b"`},
		{"a*", `got "a*"`},
		{"a>", `got "a>"`},
		{"a b", `got "a b"`},
		{"é", `got "é"`},
		{"a\n", `got "a\n"`},
		{strings.Repeat("x", 129), `got "` + strings.Repeat("x", 64) + `"…`},
	}
	for _, c := range cases {
		err := field.ID("item_id", c.v)
		require.ErrorIs(t, err, aggregate.ErrInvalid, c.v)
		assert.Contains(t, err.Error(), c.msg)
	}
}

func TestQuoteShortensLongValues(t *testing.T) {
	assert.Equal(t, `"abc"`, field.Quote("abc"))
	assert.Equal(t, `"`+strings.Repeat("é", 64)+`"`, field.Quote(strings.Repeat("é", 64)))
	assert.Equal(t, `"`+strings.Repeat("é", 64)+`"…`, field.Quote(strings.Repeat("é", 65)))
	assert.Equal(t, `"\xff"`, field.Quote("\xff"))
	assert.Less(t, len(field.Quote(strings.Repeat("x", 1<<20))), 100)
}
