package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/bench"
	"github.com/jetsource/jetsource/testkit"
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
		{[]string{"-scenario", "cqrs-read-model", "-writers", "0", "-readers", "0"}, "at least one worker"},
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

// The flags shrink the scenarios: both run small against an in-process
// platform (read models in a private redis-server) and -json reports them,
// their consistency checks passed.
func TestSmallRunsOfBothScenariosReportJSON(t *testing.T) {
	rd := testkit.StartRedis(t)
	getenv := func(k string) string {
		if k == "REDIS_URL" {
			return rd.URL
		}
		return ""
	}
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"-standalone", "-data-dir", t.TempDir(), "-json", "-quiet", "-ops", "20",
		"-writers", "2", "-readers", "2", "-streams", "5", "-preload", "10", "-stream-length", "3", "-event-size", "100"},
		getenv, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var reports []bench.Report
	require.NoError(t, json.Unmarshal([]byte(out.String()), &reports), out.String())
	require.Len(t, reports, 2)
	for i, name := range []string{"microservices-aggregate", "cqrs-read-model"} {
		r := reports[i]
		assert.Equal(t, name, r.Scenario)
		assert.EqualValues(t, 20, r.Operations)
		assert.Equal(t, 100, r.EventSize)
		assert.Equal(t, 2, r.Writers)
		require.NotNil(t, r.Consistency)
		assert.True(t, r.Consistency.Passed, "%+v", r.Consistency)
	}
	assert.Zero(t, reports[0].Readers, "the write scenario keeps its readers: none")
	assert.Equal(t, 2, reports[1].Readers)
	assert.Equal(t, 10, reports[1].PreloadedEvents)
	assert.Equal(t, reports[1].PreloadedEvents+int(reports[1].Writes), reports[1].Consistency.Checked)
}
