package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// Shape of the chaos: how long a paused process stays paused, and how long
// a stray client waits for messages on one consumer.
const (
	minPause      = time.Second
	maxPause      = 3 * time.Second
	strayFetchMax = 3
	strayWait     = 300 * time.Millisecond
)

// fleet is the set of service processes the chaos acts on, each in a named
// slot (writer-1, projector-2 …) that a restart fills with a new process.
type fleet struct {
	t   *testing.T
	bin string
	env []string
	// slotEnv, when set, adds variables of a slot's own (they win over env).
	slotEnv func(slot string) []string

	mu      sync.Mutex
	procs   map[string]*proc
	runs    map[string]int
	stopped map[string]int // SIGSTOPs per kind
	killed  map[string]int // SIGKILLs per kind
	log     []string
	began   time.Time
}

func newFleet(t *testing.T, p *platform) *fleet {
	return &fleet{t: t, bin: p.bin, env: p.env, procs: map[string]*proc{}, runs: map[string]int{},
		stopped: map[string]int{}, killed: map[string]int{}, began: time.Now()}
}

// kind is the binary a slot runs: writer-2 runs writer.
func kind(slot string) string { return slot[:strings.LastIndexByte(slot, '-')] }

// adopt puts an already running process in a slot.
func (f *fleet) adopt(slot string, p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[slot], f.runs[slot] = p, 1
}

// launch starts a new process in slot.
func (f *fleet) launch(slot string) error {
	f.mu.Lock()
	f.runs[slot]++
	f.mu.Unlock()
	env := f.env
	if f.slotEnv != nil {
		env = append(slices.Clone(env), f.slotEnv(slot)...)
	}
	p, err := launch(f.t, f.named(slot), filepath.Join(f.bin, kind(slot)), env)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.procs[slot] = p
	f.mu.Unlock()
	return nil
}

func (f *fleet) current(slot string) *proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[slot]
}

// named is the slot and the run of its current process: writer-2 (run 3).
func (f *fleet) named(slot string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("%s (run %d)", slot, f.runs[slot])
}

func (f *fleet) slotsOf(k string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var slots []string
	for s := range f.procs {
		if kind(s) == k {
			slots = append(slots, s)
		}
	}
	sort.Strings(slots)
	return slots
}

func (f *fleet) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("t+%5.1fs ", time.Since(f.began).Seconds())+fmt.Sprintf(format, args...))
}

// kill SIGKILLs the process of slot and starts a new one in its place.
func (f *fleet) kill(slot string) error {
	if err := f.current(slot).sigkill(); err != nil {
		return err
	}
	f.mu.Lock()
	f.killed[kind(slot)]++
	f.mu.Unlock()
	f.note("SIGKILL %s, restarted", f.named(slot))
	return f.launch(slot)
}

// pause SIGSTOPs the process of slot for d (less if ctx ends first), then
// SIGCONTs it.
func (f *fleet) pause(ctx context.Context, slot string, d time.Duration) error {
	p := f.current(slot)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %s: %w", p.name, err)
	}
	f.mu.Lock()
	f.stopped[kind(slot)]++
	f.mu.Unlock()
	f.note("SIGSTOP %s for %.1fs", f.named(slot), d.Seconds())
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT %s: %w", p.name, err)
	}
	return nil
}

// chaos pauses and kills random writers and projectors, perActionKind times
// each of (writer, projector) x (pause, kill), spread evenly over span,
// one action at a time; it returns when done or when ctx ends (leaving
// every process running).
func (f *fleet) chaos(ctx context.Context, span time.Duration, perActionKind int) {
	type action struct{ kind, what string }
	var plan []action
	for _, k := range []string{"writer", "projector"} {
		for _, what := range []string{"pause", "kill"} {
			for range perActionKind {
				plan = append(plan, action{k, what})
			}
		}
	}
	rand.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	gap := span / time.Duration(len(plan)+1)
	start := time.Now()
	for i, a := range plan {
		timer := time.NewTimer(time.Until(start.Add(gap * time.Duration(i+1))))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		slots := f.slotsOf(a.kind)
		slot := slots[rand.IntN(len(slots))]
		var err error
		if a.what == "kill" {
			err = f.kill(slot)
		} else {
			err = f.pause(ctx, slot, minPause+rand.N(maxPause-minPause))
		}
		if err != nil {
			f.t.Errorf("chaos: %v", err)
		}
	}
}

// diedOnTheirOwn lists the current processes that exited although the
// chaos did not kill them (a crash, a panic, a fatal error).
func (f *fleet) diedOnTheirOwn() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var dead []string
	for _, p := range f.procs {
		if why, ok := p.exited(); ok {
			dead = append(dead, why)
		}
	}
	sort.Strings(dead)
	return dead
}

// strayPulls is a client that is not the projector: rounds times, spread
// over span, it lists the consumers of the event stream and fetches a few
// messages from each pull consumer on its own connection, acking some and
// leaving others unacked. It returns the messages it took per consumer.
func strayPulls(ctx context.Context, t *testing.T, natsURL string, span time.Duration, rounds int) map[string]int {
	taken := map[string]int{}
	nc, err := nats.Connect(natsURL, nats.Name("stray client"))
	if err != nil {
		t.Errorf("stray client: connect: %v", err)
		return taken
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("stray client: %v", err)
		return taken
	}
	slot := span / time.Duration(rounds)
	start := time.Now()
	for i := range rounds {
		at := start.Add(slot*time.Duration(i) + rand.N(slot))
		timer := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			timer.Stop()
			return taken
		case <-timer.C:
		}
		stream, err := js.Stream(ctx, streams.DefaultStream)
		if err != nil {
			t.Logf("stray client: stream %s: %v", streams.DefaultStream, err)
			continue
		}
		lister := stream.ListConsumers(ctx)
		var pull []string
		for info := range lister.Info() {
			if info.Config.DeliverSubject == "" {
				pull = append(pull, info.Name)
			}
		}
		for _, name := range pull {
			cons, err := stream.Consumer(ctx, name)
			if err != nil {
				continue // replaced by the projector meanwhile
			}
			batch, err := cons.Fetch(1+rand.IntN(strayFetchMax), jetstream.FetchMaxWait(strayWait))
			if err != nil {
				continue
			}
			for msg := range batch.Messages() {
				taken[name]++
				if rand.IntN(2) == 0 {
					_ = msg.Ack()
				}
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("stray client: fetch from %s: %v", name, err)
			}
		}
	}
	return taken
}
