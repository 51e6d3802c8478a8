package admin_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/admin"
)

func TestTailSubjectTakesAllATypeOrOneAggregate(t *testing.T) {
	for filter, want := range map[string]string{
		"":         "events.>",
		">":        "events.>",
		"order":    "events.order.*",
		"order.7d": "events.order.7d",
	} {
		got, err := admin.TailSubject(filter)
		require.NoError(t, err, filter)
		assert.Equal(t, want, got, filter)
	}
	for _, bad := range []string{"order.*", "order.>", "order.a.b", "Order", "*", "order.", ".x", "order.a b"} {
		_, err := admin.TailSubject(bad)
		assert.ErrorContains(t, err, "tail filter", "%q is refused", bad)
	}
}

// No filter widens or redirects the subject: it is all events, a type's
// (one wildcard, last), or one aggregate's (no wildcard).
func FuzzTailSubject(f *testing.F) {
	for _, s := range []string{"", ">", "order", "order.7dd8", "order.*", "a.b.c", "order.>", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		subject, err := admin.TailSubject(filter)
		if err != nil {
			return
		}
		tokens := strings.Split(subject, ".")
		if subject == "events.>" {
			return
		}
		require.Len(t, tokens, 3, "%q -> %q", filter, subject)
		assert.Equal(t, "events", tokens[0])
		assert.NotContains(t, tokens[1], "*")
		assert.NotContains(t, tokens[1], ">")
		if tokens[2] != "*" {
			assert.NotContains(t, tokens[2], "*")
			assert.NotContains(t, tokens[2], ">")
		}
	})
}

func TestQueryParamsReadJSONValuesAndStrings(t *testing.T) {
	params, err := admin.QueryParams([]string{"id=7dd8", "limit=10", "frozen=true", `name="42"`, "tags=[1,2]", "empty="})
	require.NoError(t, err)
	b, err := json.Marshal(params)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"7dd8","limit":10,"frozen":true,"name":"42","tags":[1,2],"empty":""}`, string(b))

	for _, bad := range [][]string{{"id"}, {"=x"}, {"id=a", "id=b"}} {
		_, err := admin.QueryParams(bad)
		assert.Error(t, err, "%q is refused", bad)
	}
}
