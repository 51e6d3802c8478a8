package service

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/projections"
)

// sampleProjections are projections as the platform's domains declare them.
func sampleProjections() []projections.Projection {
	var out []projections.Projection
	for _, name := range []string{"accounts", "orders", "products", "users"} {
		out = append(out, projections.Projection{Name: name})
	}
	return out
}

func TestProjectorPartitionsSetTheNamedProjections(t *testing.T) {
	ps, err := partitioned(sampleProjections(), config.Projector{Partitions: "accounts=8,products=2"})
	require.NoError(t, err)
	got := map[string]int{}
	for _, p := range ps {
		got[p.Name] = p.Partitions
	}
	assert.Equal(t, map[string]int{"accounts": 8, "products": 2, "orders": 0, "users": 0}, got)

	_, err = partitioned(sampleProjections(), config.Projector{Partitions: "acounts=8"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "projector.partitions names acounts, which is no projection of the platform (accounts, ")
}
