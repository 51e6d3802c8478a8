package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/jetsource/jetsource"

// deps lists the packages pkg depends on (go list -deps), built with flags.
func deps(t *testing.T, pkg string, flags ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append(append([]string{"list", "-deps"}, flags...), pkg)...).CombinedOutput()
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

// The OTLP trace exporter links gRPC, whose use of golang.org/x/net/trace
// brings html/template in: its reflection keeps every exported method of
// the binary (about 13 MB more). Built as the Dockerfile builds them, with
// -tags grpcnotrace, the binaries link no template package.
func TestBinariesBuiltLikeTheImageLinkNoTemplates(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	assert.Contains(t, string(dockerfile), "go build -trimpath -tags grpcnotrace ", "the image's binaries are built without gRPC's tracing")
	for _, bin := range []string{"writer", "projector", "reader", "gateway", "standalone", "jetsource"} {
		for _, dep := range deps(t, module+"/cmd/"+bin, "-tags", "grpcnotrace") {
			assert.NotContains(t, []string{"text/template", "html/template"}, dep, "cmd/%s links %s", bin, dep)
		}
	}
}
