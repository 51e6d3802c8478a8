package main

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

// Bad flags are refused before anything connects, each with what is wrong.
func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "audit-log"}, `no scenario "audit-log"`},
		{[]string{"-event-size", "10"}, "event size 10 is out of"},
		{[]string{"-scenario", "cqrs-read-model", "-write-probability", "2"}, "write probability 2 is out of 0..1"},
		{[]string{"-scenario", "cqrs-read-model", "-zipf", "0.5"}, "zipf exponent 0.5 must be above 1"},
		{[]string{"-scenario", "microservices-aggregate", "-readers", "3"}, "readers need preloaded streams"},
		{[]string{"-ops", "-1"}, "-ops -1 must not be negative"},
		{[]string{"now"}, `unexpected arguments ["now"]`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(context.Background(), c.args, noEnv, &out, &errOut)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Empty(t, out.String())
		})
	}
}

// -h names the scenarios and every deviation from the suite.
func TestHelpNamesTheScenariosAndTheDeviations(t *testing.T) {
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"-h"}, noEnv, &out, &errOut)
	require.True(t, errors.Is(err, flag.ErrHelp))
	for _, want := range []string{"microservices-aggregate", "cqrs-read-model", "deviations from the suite",
		"cmd.bench.append", "query.bench.stream", "consistency check", "-standalone", "bench.Domain()"} {
		assert.Contains(t, errOut.String(), want)
	}
}
