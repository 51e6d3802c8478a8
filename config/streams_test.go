package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
)

func TestStoreStreamsFromFileAndVariable(t *testing.T) {
	file := writeFile(t, "c.yaml", "store:\n  streams:\n    - name: ACCOUNTS\n      types: [account, user]\n    - {name: ORDERS, types: [order, product]}\n")
	cfg, err := config.Load([]string{"-config", file}, env(nil))
	require.NoError(t, err)
	specs, err := cfg.Store.Streams.Specs()
	require.NoError(t, err)
	want := []config.StreamSpec{{Name: "ACCOUNTS", Types: []string{"account", "user"}}, {Name: "ORDERS", Types: []string{"order", "product"}}}
	assert.Equal(t, want, specs)

	cfg, err = config.Load(nil, env(map[string]string{"JETSOURCE_STORE_STREAMS": "ACCOUNTS=account,user; ORDERS=order,product"}))
	require.NoError(t, err)
	specs, err = cfg.Store.Streams.Specs()
	require.NoError(t, err)
	assert.Equal(t, want, specs)

	specs, err = config.Default().Store.Streams.Specs()
	require.NoError(t, err)
	assert.Nil(t, specs, "the default is the one stream store.stream")
}

func TestStoreStreamsRefusesBadLayouts(t *testing.T) {
	cases := map[string]string{
		"A=account;B=account": "aggregate type account is in stream A and in stream B",
		"A=account;A=order":   "stream A is listed twice",
		"A=":                  "lists no aggregate types",
		"ACCOUNTS":            "lists no aggregate types",
		"A.B=account":         `stream name "A.B" must not contain`,
		"A:B=account":         `stream name "A:B" must not contain ':'`,
		"KV_X=account":        "must not start with KV_",
		"A=Account":           `aggregate type "Account" must match`,
		"THIS_NAME_IS_FAR_TOO_LONG_FOR_A_POSITION=account": "is longer than 32 bytes",
	}
	for layout, want := range cases {
		t.Run(layout, func(t *testing.T) {
			cfg := config.Default()
			cfg.Store.Streams = config.StreamLayout(layout)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "store.streams")
			assert.Contains(t, err.Error(), want)
		})
	}
}
