package standalone

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
)

func TestStandaloneSyncsEveryWriteByDefault(t *testing.T) {
	opts, err := embeddedNATSOptions(config.Default())
	require.NoError(t, err)
	assert.True(t, opts.JetStream)
	assert.True(t, opts.SyncAlways, "acknowledged means on disk unless the operator says otherwise")

	cfg := config.Default()
	cfg.Standalone.Sync = "2m"
	opts, err = embeddedNATSOptions(cfg)
	require.NoError(t, err)
	assert.False(t, opts.SyncAlways)
	assert.Equal(t, 2*time.Minute, opts.SyncInterval)
}
