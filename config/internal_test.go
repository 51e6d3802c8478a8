package config

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func noEnv(string) string { return "" }

func allSettings() []setting {
	var c Config
	return settingsOf(&c)
}

func TestHelpListsEveryFlagAndVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := load([]string{"-h"}, noEnv, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	usage := out.String()
	for _, f := range flagSpecs {
		assert.Contains(t, usage, "-"+f.name+" ")
	}
	for _, s := range allSettings() {
		assert.Contains(t, usage, EnvName(s.path))
		if s.ecoEnv != "" {
			assert.Contains(t, usage, s.ecoEnv)
		}
	}
	assert.Contains(t, usage, "(env JETSOURCE_NATS_URL or NATS_URL, default nats://127.0.0.1:4222)")
}

func TestUnknownFlagIsAnErrorWithUsage(t *testing.T) {
	var out bytes.Buffer
	_, err := load([]string{"-wokers", "3"}, noEnv, &out)
	assert.ErrorContains(t, err, "flag provided but not defined: -wokers")
	assert.Contains(t, out.String(), "-workers n")
}

func TestHelpFlagsAreAccepted(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		_, err := load([]string{arg}, noEnv, &bytes.Buffer{})
		assert.ErrorIs(t, err, flag.ErrHelp, arg)
	}
}

func TestPackageDocListsEveryVariableAndFlag(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(string(doc), func(r rune) bool { return strings.ContainsRune(" \t\n;(),", r) }) {
		words[w] = true
	}
	for _, name := range EnvNames() {
		assert.True(t, words[name], "doc.go does not list %s", name)
	}
	for _, f := range append(flagSpecs, flagSpec{name: configFlag}) {
		assert.True(t, words["-"+f.name], "doc.go does not list -%s", f.name)
	}
}

func TestFlagsNameRealSettings(t *testing.T) {
	var paths []string
	for _, s := range allSettings() {
		paths = append(paths, s.path)
	}
	for _, f := range flagSpecs {
		assert.Contains(t, paths, f.path, "-%s", f.name)
	}
}

func TestExampleFilesHoldEverySetting(t *testing.T) {
	var want []string
	for _, s := range allSettings() {
		want = append(want, s.path)
	}
	for _, name := range []string{"examples/local.yaml", "examples/compose.yaml"} {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		var doc map[string]map[string]any
		require.NoError(t, yaml.Unmarshal(data, &doc))
		var got []string
		for section, fields := range doc {
			for field := range fields {
				got = append(got, section+"."+field)
			}
		}
		slices.Sort(got)
		sorted := slices.Sorted(slices.Values(want))
		assert.Equal(t, sorted, got, name)
	}
}

func TestEverySettingParsesFromText(t *testing.T) {
	for _, s := range allSettings() {
		text := "1"
		switch {
		case s.value.Type() == durationType:
			text = "1s"
		case s.value.Kind().String() == "string":
			text = "x"
		case s.value.Kind().String() == "bool":
			text = "true"
		}
		assert.NoError(t, s.set(text), s.path)
		assert.Equal(t, text, strings.Trim(s.String(), `"`), s.path)
	}
}
