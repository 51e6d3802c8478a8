package live_test

import (
	"os"
	"testing"

	"github.com/jetsource/jetsource/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.QuietBenchmarks(m)) }
