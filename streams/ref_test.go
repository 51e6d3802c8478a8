package streams_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
)

func TestNewRefRejectsHostileIDs(t *testing.T) {
	cases := map[string]string{
		"dot":            "a.b",
		"star":           "*",
		"gt":             ">",
		"space":          "a b",
		"empty":          "",
		"too long":       strings.Repeat("a", 129),
		"nul":            "a\x00b",
		"newline":        "a\nb",
		"tab":            "a\tb",
		"non-ascii":      "계좌",
		"accented":       "café",
		"js api":         "$JS",
		"wildcard token": "acc.*",
		"slash":          "a/b",
		"colon":          "a:b",
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := streams.NewRef("account", id)
			require.Error(t, err)
			assert.ErrorIs(t, err, streams.ErrInvalidRef)
			var ire *streams.InvalidRefError
			require.True(t, errors.As(err, &ire))
			assert.Equal(t, "id", ire.Field)
			assert.Equal(t, id, ire.Value)
			assert.Contains(t, err.Error(), "invalid aggregate id")
		})
	}
}

func TestNewRefRejectsBadTypes(t *testing.T) {
	for _, typ := range []string{"", "Account", "1acc", "acc.x", "acc-x", "*", ">", strings.Repeat("a", 65), "açc"} {
		_, err := streams.NewRef(typ, "x")
		require.ErrorIs(t, err, streams.ErrInvalidRef, "type %q", typ)
		assert.Contains(t, err.Error(), "invalid aggregate type")
	}
}

func TestNewRefAcceptsValidIDs(t *testing.T) {
	for _, id := range []string{"a", "acc-52", "A_b-9", strings.Repeat("z", 128), "7dd8"} {
		ref, err := streams.NewRef("account", id)
		require.NoError(t, err, id)
		assert.Equal(t, "events.account."+id, ref.Subject())
		assert.Equal(t, "account."+id, ref.Key())
		back, err := streams.ParseSubject(ref.Subject())
		require.NoError(t, err)
		assert.Equal(t, ref, back)
	}
}

func FuzzNewRef(f *testing.F) {
	for _, s := range []string{"acc-52", "a.b", "*", ">", "", "$JS.API", "a b", "\x00"} {
		f.Add("account", s)
	}
	f.Fuzz(func(t *testing.T, typ, id string) {
		ref, err := streams.NewRef(typ, id)
		if err != nil {
			require.ErrorIs(t, err, streams.ErrInvalidRef)
			return
		}
		// A valid ref always has exactly three subject tokens and no wildcard.
		subj := ref.Subject()
		require.Len(t, strings.Split(subj, "."), 3)
		require.NotContains(t, subj, "*")
		require.NotContains(t, subj, ">")
		require.NotContains(t, subj, " ")
		back, err := streams.ParseSubject(subj)
		require.NoError(t, err)
		require.Equal(t, ref, back)
	})
}
