package library_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/testkit"

	"example.com/library"
)

// requestTimeout bounds one command or query; startTimeout bounds the
// services' start.
const (
	requestTimeout = 5 * time.Second
	startTimeout   = 30 * time.Second
)

// startPlatform runs the library's writer, projector and reader in this
// process, as their binaries would, against the test's NATS and Redis.
func startPlatform(t *testing.T, natsURL, redisURL string) {
	p := service.New(service.Domain{
		Aggregates:  []service.Aggregate{service.AggregateOf(library.Definition())},
		Projections: []projections.Projection{library.Projection()},
		Queries:     library.Queries(),
	})
	env := map[string]string{"NATS_URL": natsURL, "REDIS_URL": redisURL, "JETSOURCE_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, svc := range map[string]struct {
		needs service.Needs
		run   func(context.Context, service.Deps) error
	}{
		"writer":    {service.Needs{Writer: true}, p.Writer},
		"projector": {service.Needs{Redis: true}, p.Projector},
		"reader":    {service.Needs{Redis: true}, p.Reader},
	} {
		wg.Go(func() {
			err := service.Start(ctx, name, nil, func(k string) string { return env[k] }, t.Output(), svc.needs, svc.run)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// reply is a command's or a query's reply.
type reply struct {
	Sequence uint64          `json:"sequence"`
	Data     json.RawMessage `json:"data"`
	Error    struct{ Code, Message string }
}

// request sends body on subject; until the service serves the subject (no
// responders), it asks again.
func request(t *testing.T, nc *nats.Conn, subject, body string) reply {
	t.Helper()
	var msg *nats.Msg
	testkit.Eventually(t, startTimeout, func() bool {
		var err error
		msg, err = nc.Request(subject, []byte(body), requestTimeout)
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("%s %s: %v", subject, body, err)
		}
		return err == nil
	}, "%s is served", subject)
	var r reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("%s %s: reply %s: %v", subject, body, msg.Data, err)
	}
	return r
}

// A member's loans are read back through the registered query right after
// the commands, with the sequence of the last command's reply as
// min_sequence: no polling, read-your-writes.
func TestLoansAreReadBackRightAfterTheCommands(t *testing.T) {
	n := testkit.StartNATS(t)
	startPlatform(t, n.URL(), testkit.StartRedis(t).URL)
	nc := n.Connect()

	var last reply
	for _, c := range []struct{ subject, body string }{
		{"cmd.book.add", `{"aggregate_id":"b-1","command_id":"c1","data":{"title":"Dune"}}`},
		{"cmd.book.add", `{"aggregate_id":"b-2","command_id":"c2","data":{"title":"Emma"}}`},
		{"cmd.book.lend", `{"aggregate_id":"b-1","command_id":"c3","data":{"member":"ada"}}`},
		{"cmd.book.lend", `{"aggregate_id":"b-2","command_id":"c4","data":{"member":"ada"}}`},
		{"cmd.book.return", `{"aggregate_id":"b-1","command_id":"c5"}`},
	} {
		last = request(t, nc, c.subject, c.body)
		if last.Error.Code != "" || last.Sequence == 0 {
			t.Fatalf("%s %s: %+v", c.subject, c.body, last)
		}
	}

	refused := request(t, nc, "cmd.book.lend", `{"aggregate_id":"b-2","data":{"member":"bo"}}`)
	if refused.Error.Code != "rejected" || refused.Error.Message != `rejected: "Emma" is on loan to ada` {
		t.Errorf("lending a book on loan: %+v, want rejected", refused)
	}

	got := request(t, nc, "query.library.loans", `{"member":"ada","min_sequence":`+jsonNumber(last.Sequence)+`}`)
	if got.Error.Code != "" || got.Sequence < last.Sequence {
		t.Fatalf("loans of ada at sequence %d: %+v", last.Sequence, got)
	}
	if want := `[{"id":"b-2","title":"Emma"}]`; string(got.Data) != want {
		t.Errorf("loans of ada: %s, want %s", got.Data, want)
	}
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
