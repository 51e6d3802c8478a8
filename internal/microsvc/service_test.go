package microsvc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/jetsource/jetsource/internal/microsvc"
	"github.com/jetsource/jetsource/testkit"
)

const (
	timeout = 5 * time.Second
	// held is how long the asynchronous handler of the stats test keeps
	// every request before answering it.
	held = 100 * time.Millisecond
)

func request[T any](t *testing.T, nc *nats.Conn, subject string) T {
	t.Helper()
	msg, err := nc.Request(subject, nil, timeout)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	var v T
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		t.Fatalf("decode the reply of %s: %v: %s", subject, err, msg.Data)
	}
	return v
}

// start starts a NATS server and the service of config on a connection to
// it; the test's end stops them.
func start(t *testing.T, config microsvc.Config) (*testkit.NATS, *nats.Conn, *microsvc.Service) {
	t.Helper()
	srv := testkit.StartNATS(t)
	nc := srv.Connect()
	svc, err := microsvc.AddService(nc, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	return srv, nc, svc
}

// clientOf connects a client once the server has every subscription made
// so far on the service's connection.
func clientOf(t *testing.T, srv *testkit.NATS, service *nats.Conn) *nats.Conn {
	t.Helper()
	if err := service.Flush(); err != nil {
		t.Fatal(err)
	}
	return srv.Connect()
}

func controlSubject(t *testing.T, verb micro.Verb, name, id string) string {
	t.Helper()
	s, err := micro.ControlSubject(verb, name, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatsCountAsynchronousAnswersWithTheirWholeHandlingAndErrors(t *testing.T) {
	srv, nc, svc := start(t, microsvc.Config{Name: "async", Version: "1.0.0"})

	// The handler returns at once; a goroutine per request answers it once
	// released: "fail" requests with an error, the others with a success.
	release := make(chan struct{})
	var taken sync.WaitGroup
	var answering sync.WaitGroup
	handler := func(req *microsvc.Request) {
		answering.Go(func() {
			taken.Done()
			<-release
			if string(req.Data()) == "fail" {
				_ = req.Error("422", "refused: "+string(req.Data()), []byte(`{"error":"refused"}`))
				return
			}
			_ = req.Respond([]byte("ok:" + string(req.Data())))
		})
	}
	if err := svc.AddGroup("work").AddEndpoint("do", handler, microsvc.WithSubject("it")); err != nil {
		t.Fatal(err)
	}

	const good, bad = 6, 4
	client := clientOf(t, srv, nc)
	taken.Add(good + bad)
	replies := make(chan *nats.Msg, good+bad)
	var clients sync.WaitGroup
	for i := range good + bad {
		body := "fail"
		if i < good {
			body = strconv.Itoa(i)
		}
		clients.Go(func() {
			msg, err := client.Request("work.it", []byte(body), timeout)
			if err != nil {
				t.Errorf("request %s: %v", body, err)
				return
			}
			replies <- msg
		})
	}
	taken.Wait() // every request reached the handler
	time.Sleep(held)
	close(release)
	clients.Wait()
	answering.Wait()
	close(replies)

	var oks, errs int
	for msg := range replies {
		switch code := msg.Header.Get(micro.ErrorCodeHeader); code {
		case "":
			oks++
		case "422":
			errs++
			if got := msg.Header.Get(micro.ErrorHeader); got != "refused: fail" {
				t.Errorf("%s = %q, want %q", micro.ErrorHeader, got, "refused: fail")
			}
			if string(msg.Data) != `{"error":"refused"}` {
				t.Errorf("error body %s", msg.Data)
			}
		default:
			t.Errorf("unexpected error code %q", code)
		}
	}
	if oks != good || errs != bad {
		t.Fatalf("replies: %d ok and %d errors, want %d and %d", oks, errs, good, bad)
	}

	stats := request[micro.Stats](t, client, controlSubject(t, micro.StatsVerb, "async", ""))
	if stats.Type != micro.StatsResponseType || stats.Name != "async" || stats.ID != svc.ID() {
		t.Fatalf("stats identity: %+v", stats)
	}
	if len(stats.Endpoints) != 1 {
		t.Fatalf("stats of %d endpoints, want 1", len(stats.Endpoints))
	}
	e := stats.Endpoints[0]
	if e.Name != "do" || e.Subject != "work.it" || e.QueueGroup != micro.DefaultQueueGroup {
		t.Errorf("endpoint %s on %s in %q, want do on work.it in %q", e.Name, e.Subject, e.QueueGroup, micro.DefaultQueueGroup)
	}
	if e.NumRequests != good+bad || e.NumErrors != bad {
		t.Errorf("num_requests %d, num_errors %d; want %d, %d", e.NumRequests, e.NumErrors, good+bad, bad)
	}
	if e.LastError != "422:refused: fail" {
		t.Errorf("last_error %q, want %q", e.LastError, "422:refused: fail")
	}
	// Each request was held at least `held` after its handler was called.
	if e.ProcessingTime < (good+bad)*held || e.AverageProcessingTime < held {
		t.Errorf("processing_time %v (average %v): want at least %v (average %v), the time the requests were held",
			e.ProcessingTime, e.AverageProcessingTime, (good+bad)*held, held)
	}
}

func TestPingInfoAndStatsAnswerOnEveryControlSubject(t *testing.T) {
	srv, nc, svc := start(t, microsvc.Config{Name: "svc-a", Version: "0.1.0", Description: "a service",
		Metadata: map[string]string{"region": "eu"}, QueueGroup: "shared"})
	noop := func(req *microsvc.Request) { _ = req.Respond(nil) }
	if err := svc.AddEndpoint("one", noop, microsvc.WithMetadata(map[string]string{"kind": "first"})); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddGroup("g.h").AddEndpoint("two", noop, microsvc.WithSubject("two.*"), microsvc.WithQueueGroup("own"),
		microsvc.WithPendingLimits(10, -1)); err != nil {
		t.Fatal(err)
	}
	wantEndpoints := []micro.EndpointInfo{
		{Name: "one", Subject: "one", QueueGroup: "shared", Metadata: map[string]string{"kind": "first"}},
		{Name: "two", Subject: "g.h.two.*", QueueGroup: "own"},
	}
	client := clientOf(t, srv, nc)
	for _, kind := range [][2]string{{"", ""}, {"svc-a", ""}, {"svc-a", svc.ID()}} {
		name, id := kind[0], kind[1]
		t.Run(fmt.Sprintf("name=%q,id=%q", name, id), func(t *testing.T) {
			ping := request[micro.Ping](t, client, controlSubject(t, micro.PingVerb, name, id))
			want := micro.ServiceIdentity{Name: "svc-a", ID: svc.ID(), Version: "0.1.0", Metadata: map[string]string{"region": "eu"}}
			if ping.Type != micro.PingResponseType || !sameIdentity(ping.ServiceIdentity, want) {
				t.Errorf("ping %+v, want %+v of type %s", ping, want, micro.PingResponseType)
			}
			info := request[micro.Info](t, client, controlSubject(t, micro.InfoVerb, name, id))
			if info.Type != micro.InfoResponseType || !sameIdentity(info.ServiceIdentity, want) || info.Description != "a service" {
				t.Errorf("info %+v", info)
			}
			if len(info.Endpoints) != len(wantEndpoints) {
				t.Fatalf("info endpoints %+v, want %+v", info.Endpoints, wantEndpoints)
			}
			for i, e := range info.Endpoints {
				w := wantEndpoints[i]
				if e.Name != w.Name || e.Subject != w.Subject || e.QueueGroup != w.QueueGroup || !maps.Equal(e.Metadata, w.Metadata) {
					t.Errorf("info endpoint %d: %+v, want %+v", i, e, w)
				}
			}
			stats := request[micro.Stats](t, client, controlSubject(t, micro.StatsVerb, name, id))
			if stats.Type != micro.StatsResponseType || !sameIdentity(stats.ServiceIdentity, want) || stats.Started.IsZero() {
				t.Errorf("stats %+v", stats)
			}
			if len(stats.Endpoints) != 2 || stats.Endpoints[1].Subject != "g.h.two.*" || stats.Endpoints[1].QueueGroup != "own" {
				t.Errorf("stats endpoints %+v", stats.Endpoints)
			}
		})
	}
}

func sameIdentity(a, b micro.ServiceIdentity) bool {
	return a.Name == b.Name && a.ID == b.ID && a.Version == b.Version && maps.Equal(a.Metadata, b.Metadata)
}

// TestControlRepliesHaveMicrosJSONShape compares the JSON members, at every
// level, of a plain micro service's PING, INFO and STATS replies with ours.
func TestControlRepliesHaveMicrosJSONShape(t *testing.T) {
	srv := testkit.StartNATS(t)
	nc := srv.Connect()
	plain, err := micro.AddService(nc, micro.Config{Name: "plain", Version: "1.0.0", Description: "micro"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Stop() })
	if err := plain.AddGroup("p").AddEndpoint("e", micro.HandlerFunc(func(req micro.Request) { _ = req.Respond(nil) })); err != nil {
		t.Fatal(err)
	}
	ours, err := microsvc.AddService(nc, microsvc.Config{Name: "ours", Version: "1.0.0", Description: "microsvc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ours.Stop() })
	if err := ours.AddGroup("o").AddEndpoint("e", func(req *microsvc.Request) { _ = req.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	client := clientOf(t, srv, nc)
	// One request to each endpoint, so that the stats are not all zero.
	for _, subject := range []string{"p.e", "o.e"} {
		if _, err := client.Request(subject, nil, timeout); err != nil {
			t.Fatal(err)
		}
	}
	for _, verb := range []micro.Verb{micro.PingVerb, micro.InfoVerb, micro.StatsVerb} {
		want := request[map[string]any](t, client, controlSubject(t, verb, "plain", ""))
		got := request[map[string]any](t, client, controlSubject(t, verb, "ours", ""))
		if w, g := shape(want), shape(got); !slices.Equal(w, g) {
			t.Errorf("%s: members %v, micro's %v", verb, g, w)
		}
	}
}

// shape lists the paths of a decoded JSON value's members, with their
// JSON kinds.
func shape(v any) []string {
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			paths = append(paths, prefix+":object")
			for k, member := range v {
				walk(prefix+"."+k, member)
			}
		case []any:
			paths = append(paths, prefix+":array")
			for _, item := range v {
				walk(prefix+"[]", item)
			}
		default:
			paths = append(paths, fmt.Sprintf("%s:%T", prefix, v))
		}
	}
	walk("", v)
	sort.Strings(paths)
	return slices.Compact(paths)
}

func TestARequestIsAnsweredOnceWhateverTheGoroutines(t *testing.T) {
	_, nc, svc := start(t, microsvc.Config{Name: "once", Version: "1.0.0"})
	const racers = 8
	var won, refused atomic.Int32
	var racing sync.WaitGroup
	if err := svc.AddEndpoint("e", func(req *microsvc.Request) {
		for i := range racers {
			racing.Go(func() {
				var err error
				switch i % 3 {
				case 0:
					err = req.Respond([]byte("ok"))
				case 1:
					err = req.Error("500", "boom", nil)
				default:
					err = req.Drop("gone")
				}
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, microsvc.ErrAnswered):
					refused.Add(1)
				default:
					t.Errorf("answer: %v", err)
				}
			})
		}
	}); err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync("answers")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("e", "answers", nil); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, timeout, func() bool { return won.Load()+refused.Load() == racers }, "every racer answered")
	racing.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d answers went through, want 1", won.Load())
	}
	if _, err := sub.NextMsg(timeout / 10); err != nil && !errors.Is(err, nats.ErrTimeout) {
		t.Fatal(err)
	}
	if extra, err := sub.NextMsg(timeout / 10); err == nil {
		t.Fatalf("a second reply was sent: %q", extra.Data)
	}
	if st := svc.Stats().Endpoints[0]; st.NumRequests != 1 {
		t.Fatalf("num_requests %d, want 1", st.NumRequests)
	}
}

func TestDropCountsAnErrorWithoutReplying(t *testing.T) {
	srv, nc, svc := start(t, microsvc.Config{Name: "drop", Version: "1.0.0"})
	if err := svc.AddEndpoint("e", func(req *microsvc.Request) { _ = req.Drop("outcome unknown") }); err != nil {
		t.Fatal(err)
	}
	if _, err := clientOf(t, srv, nc).Request("e", nil, 200*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("request of a dropped request: %v, want a timeout", err)
	}
	st := svc.Stats().Endpoints[0]
	if st.NumRequests != 1 || st.NumErrors != 1 || st.LastError != "outcome unknown" {
		t.Fatalf("stats %+v, want 1 request, 1 error, last_error %q", st, "outcome unknown")
	}
}

func TestErrorNeedsCodeAndDescription(t *testing.T) {
	srv, nc, svc := start(t, microsvc.Config{Name: "errs", Version: "1.0.0"})
	got := make(chan error, 2)
	if err := svc.AddEndpoint("e", func(req *microsvc.Request) {
		got <- req.Error("", "no code", nil)
		got <- req.Error("400", "", nil)
		_ = req.Error("400", "bad", nil)
	}); err != nil {
		t.Fatal(err)
	}
	msg, err := clientOf(t, srv, nc).Request("e", nil, timeout)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-got; !errors.Is(err, micro.ErrArgRequired) {
			t.Errorf("Error without code or description: %v, want micro.ErrArgRequired", err)
		}
	}
	if msg.Header.Get(micro.ErrorCodeHeader) != "400" {
		t.Fatalf("the reply is not the valid error: %v", msg.Header)
	}
}

func TestASlowConsumerIsReportedAndCountedAsAnError(t *testing.T) {
	srv := testkit.StartNATS(t)
	nc := srv.Connect()
	reported := make(chan error, 10)
	svc, err := microsvc.AddService(nc, microsvc.Config{Name: "slow", Version: "1.0.0",
		ErrorHandler: func(subject string, err error) {
			if subject == "slow.e" {
				reported <- err
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	release := make(chan struct{})
	if err := svc.AddEndpoint("e", func(req *microsvc.Request) {
		<-release
		_ = req.Respond(nil)
	}, microsvc.WithSubject("slow.e"), microsvc.WithPendingLimits(2, -1)); err != nil {
		t.Fatal(err)
	}
	client := clientOf(t, srv, nc)
	for range 20 {
		if err := client.PublishRequest("slow.e", "nobody", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reported:
		if !errors.Is(err, nats.ErrSlowConsumer) {
			t.Fatalf("reported %v, want nats.ErrSlowConsumer", err)
		}
	case <-time.After(timeout):
		t.Fatal("no slow consumer reported")
	}
	close(release)
	st := svc.Stats().Endpoints[0]
	if st.NumErrors < 1 || st.LastError != nats.ErrSlowConsumer.Error() {
		t.Fatalf("stats %+v, want the slow consumer as an error", st)
	}
}

func TestStopDrainsTheRequestsTakenAndStillCountsTheirAnswers(t *testing.T) {
	srv, nc, svc := start(t, microsvc.Config{Name: "stopping", Version: "1.0.0"})
	inHandler := make(chan struct{})
	release := make(chan struct{})
	var handled atomic.Int32
	if err := svc.AddEndpoint("e", func(req *microsvc.Request) {
		if handled.Add(1) == 1 {
			close(inHandler)
			<-release // the first request holds the handler; the others queue
		}
		go func() { _ = req.Respond([]byte("done")) }()
	}); err != nil {
		t.Fatal(err)
	}
	client := clientOf(t, srv, nc)
	replies, err := client.SubscribeSync("replies")
	if err != nil {
		t.Fatal(err)
	}
	const sent = 5
	for range sent {
		if err := client.PublishRequest("e", "replies", nil); err != nil {
			t.Fatal(err)
		}
	}
	<-inHandler
	// Every request reached the service's connection before it stops: the
	// server took the client's requests, and nc's flush is answered after
	// the messages the server sent it before.
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	if svc.AwaitDrained(held) {
		t.Fatal("drained while a handler still holds a request")
	}
	close(release)
	if !svc.AwaitDrained(timeout) {
		t.Fatal("not drained")
	}
	for i := range sent {
		if _, err := replies.NextMsg(timeout); err != nil {
			t.Fatalf("reply %d of %d taken before Stop: %v", i+1, sent, err)
		}
	}
	if handled.Load() != sent {
		t.Fatalf("%d handled of %d taken before Stop", handled.Load(), sent)
	}
	testkit.Eventually(t, timeout, func() bool { return svc.Stats().Endpoints[0].NumRequests == sent },
		"num_requests %d after the drain, want %d", svc.Stats().Endpoints[0].NumRequests, sent)
	if _, err := client.Request(controlSubject(t, micro.PingVerb, "stopping", ""), nil, 200*time.Millisecond); err == nil {
		t.Fatal("a stopped service answered PING")
	}
}

func TestInvalidConfigurationsAreRefused(t *testing.T) {
	srv := testkit.StartNATS(t)
	nc := srv.Connect()
	for _, c := range []struct {
		name   string
		config microsvc.Config
	}{
		{"empty name", microsvc.Config{Version: "1.0.0"}},
		{"dot in name", microsvc.Config{Name: "a.b", Version: "1.0.0"}},
		{"no version", microsvc.Config{Name: "a"}},
		{"version not SemVer", microsvc.Config{Name: "a", Version: "1.0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := microsvc.AddService(nc, c.config); !errors.Is(err, micro.ErrConfigValidation) {
				t.Fatalf("AddService(%+v): %v, want micro.ErrConfigValidation", c.config, err)
			}
		})
	}
	svc, err := microsvc.AddService(nc, microsvc.Config{Name: "a", Version: "1.0.0-rc.1+build.5"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	noop := func(req *microsvc.Request) { _ = req.Respond(nil) }
	if err := svc.AddEndpoint("a.b", noop); !errors.Is(err, micro.ErrConfigValidation) {
		t.Errorf("endpoint name with a dot: %v, want micro.ErrConfigValidation", err)
	}
	if err := svc.AddEndpoint("e", nil); !errors.Is(err, micro.ErrConfigValidation) {
		t.Errorf("endpoint without handler: %v, want micro.ErrConfigValidation", err)
	}
	if err := svc.AddEndpoint("e", noop, microsvc.WithSubject("bad subject")); err == nil {
		t.Error("endpoint on a subject with a space accepted")
	}
}
