package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/jetsource/jetsource"

// deps lists the packages pkg depends on (go list -deps).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.Fields(string(out))
}

// The core is a library: none of its packages imports a sample domain, so a
// user's own domains are served exactly as the samples are.
func TestCorePackagesImportNoDomain(t *testing.T) {
	for _, core := range []string{"streams", "codec", "aggregate", "writer", "projections", "reader", "gateway", "admin",
		"config", "ops", "service", "standalone", "testkit"} {
		for _, dep := range deps(t, module+"/"+core) {
			assert.False(t, strings.HasPrefix(dep, module+"/domain"), "%s imports %s", core, dep)
		}
	}
}

// The service binaries link neither an embedded nats-server nor an
// in-process Redis: only the single-process mode does.
func TestOnlyTheSingleProcessModeLinksEmbeddedServers(t *testing.T) {
	embedded := []string{"github.com/nats-io/nats-server/v2/server", "github.com/alicebob/miniredis/v2"}
	for _, bin := range []string{"writer", "projector", "reader", "gateway", "jetsource"} {
		for _, dep := range deps(t, module+"/cmd/"+bin) {
			for _, e := range embedded {
				assert.NotEqual(t, e, dep, "cmd/%s links %s", bin, e)
			}
		}
	}
	standalone := deps(t, module+"/cmd/standalone")
	for _, e := range embedded {
		assert.Contains(t, standalone, e, "the single-process mode embeds it")
	}
}
