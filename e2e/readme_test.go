package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeBlocks returns the lines of the README's ```sh blocks.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("../README.md")
	require.NoError(t, err)
	defer f.Close()
	var blocks [][]string
	var cur []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// Every command of the README is run: the quick start's curl commands
// against the single-process mode, and the test command against .ci/run.
func TestReadmeCommandsWork(t *testing.T) {
	blocks := readmeBlocks(t)
	require.GreaterOrEqual(t, len(blocks), 4)
	assert.Equal(t, []string{"go run ./cmd/standalone"}, blocks[0], "the first command starts the single-process mode")

	ci, err := os.ReadFile("../.ci/run")
	require.NoError(t, err)
	var testCmd string
	for _, b := range blocks {
		for _, l := range b {
			if strings.HasPrefix(l, "go vet") {
				testCmd = l
			}
		}
	}
	require.NotEmpty(t, testCmd)
	assert.Contains(t, string(ci), "\n"+testCmd+"\n", ".ci/run runs the README's test command")

	bin := binaries(t)
	env := []string{"JETSOURCE_STANDALONE_NATS_LISTEN=127.0.0.1:0", "JETSOURCE_HTTP_GATEWAY_LISTEN=127.0.0.1:0", "REDIS_URL="}
	p := start(t, "standalone", filepath.Join(bin, "standalone"), env, "-data-dir", t.TempDir())
	url := waitRunning(t, p)
	host := strings.TrimPrefix(url, "http://")
	var outputs []string
	for _, b := range blocks {
		for _, line := range b {
			if !strings.HasPrefix(line, "curl ") {
				continue
			}
			cmd := exec.Command("bash", "-c", strings.ReplaceAll(line, "localhost:8080", host))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s\n%s", line, out)
			outputs = append(outputs, string(out))
		}
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	// The answers the README quotes are what the commands printed.
	for _, want := range []string{
		`{"data":{"id":"acc-52","owner":"ada","balance":100,"frozen":false,"version":2},"sequence":2}`,
		`{"id":"7dd8","items":[{"item_id":"9a37","quantity":5},{"item_id":"a974","quantity":10}],"version":6}`,
	} {
		assert.Contains(t, string(readme), want)
		assert.Contains(t, strings.Join(outputs, "\n"), want)
	}
	p.stop(t)
}

// The README's section on adding a domain shows the example module's code as
// it is: each of its Go blocks is a verbatim part of a file of
// examples/library, which builds and whose tests run in CI.
func TestReadmeShowsTheExampleCode(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	const section = "## Adding an aggregate, a projection and a query\n"
	_, rest, ok := strings.Cut(string(readme), section)
	require.True(t, ok, "the README has the section %q", section)
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	var example strings.Builder
	for _, f := range []string{"book.go", "loans.go", "book_test.go", "cmd/library/main.go"} {
		b, err := os.ReadFile(filepath.Join("../examples/library", f))
		require.NoError(t, err)
		example.Write(b)
	}
	blocks := strings.Split(rest, "```go\n")[1:]
	require.NotEmpty(t, blocks, "the section shows Go code")
	for _, b := range blocks {
		code, _, ok := strings.Cut(b, "```\n")
		require.True(t, ok, "an unterminated Go block")
		first, _, _ := strings.Cut(code, "\n")
		assert.True(t, strings.Contains(example.String(), code),
			"the README's Go block that starts with %q is not a verbatim part of examples/library: copy it from there again", first)
	}
}
