package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/shred"
	"github.com/jetsource/jetsource/streams"
)

// Names the test reads from the wire contract and the writer's buckets.
const (
	uniqueBucket = "UNIQUE"
	userKeyType  = "user"
	// shownPerKind is how many violations of one kind a report prints.
	shownPerKind = 4
	// queryWait is the wait_ms of one read-your-writes query.
	queryWait = 5 * time.Second
)

// promise is one checked promise and what violated it.
type promise struct {
	promise    string
	violations []violation
}

// violation is one way a promise was broken; kind groups them in the
// report (the command's subject, or what was compared).
type violation struct{ kind, text string }

func (p *promise) violated(kind, format string, args ...any) {
	p.violations = append(p.violations, violation{kind, fmt.Sprintf(format, args...)})
}

// verdicts are the checked promises, in the order they are reported.
type verdicts struct {
	all    []*promise
	stream []storedEvent // the stream the promises were checked against
	phases string        // how long each phase of the run took, for the summary
}

func (v *verdicts) promise(text string) *promise {
	p := &promise{promise: text}
	v.all = append(v.all, p)
	return p
}

// report fails the test once per broken promise, naming it, how often each
// kind broke it, and the first few violations of each kind.
func (v *verdicts) report(t *testing.T) {
	t.Helper()
	for _, p := range v.all {
		if len(p.violations) == 0 {
			continue
		}
		counts := map[string]int{}
		var kinds, shown []string
		for _, x := range p.violations {
			if counts[x.kind] == 0 {
				kinds = append(kinds, x.kind)
			}
			counts[x.kind]++
			if counts[x.kind] <= shownPerKind {
				shown = append(shown, x.text)
			}
		}
		var byKind []string
		for _, k := range kinds {
			byKind = append(byKind, fmt.Sprintf("%s: %d", k, counts[k]))
		}
		t.Errorf("PROMISE BROKEN: %s\n  %d violations (%s); the first %d of each:\n  %s",
			p.promise, len(p.violations), strings.Join(byKind, ", "), shownPerKind, strings.Join(shown, "\n  "))
	}
}

// storedEvent is one message of the event stream, as the test reads it raw.
type storedEvent struct {
	seq       uint64
	subject   string
	typ       string
	version   string
	commandID string
	data      []byte
}

// aggregate splits the subject events.<type>.<id>.
func (e storedEvent) aggregate() (typ, id string) {
	parts := strings.SplitN(e.subject, ".", 3)
	if len(parts) != 3 {
		return "", e.subject
	}
	return parts[1], parts[2]
}

// readStream reads every message of the stream up to last, in order, with
// an ordered consumer of its own.
func readStream(ctx context.Context, js jetstream.JetStream, last uint64) ([]storedEvent, error) {
	cons, err := js.OrderedConsumer(ctx, streams.DefaultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("read the stream: %w", err)
	}
	var events []storedEvent
	for len(events) == 0 || events[len(events)-1].seq < last {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read the stream: got %d events up to sequence %d of %d: %w", len(events), events[len(events)-1].seq, last, err)
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read the stream: %w", err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read the stream: %w", err)
			}
			h := msg.Headers()
			events = append(events, storedEvent{seq: meta.Sequence.Stream, subject: msg.Subject(), typ: h.Get(streams.HeaderType),
				version: h.Get(streams.HeaderVersion), commandID: h.Get(streams.HeaderCommandID), data: msg.Data()})
		}
	}
	return events, nil
}

// account is an account's state folded from its raw events.
type account struct {
	owner   string
	balance int64
	frozen  bool
	version uint64
}

// checkPromises checks every promise of the run and fails the test for
// each broken one.
func checkPromises(t *testing.T, nc *nats.Conn, w *workload, accounts []string, f *fleet, deadline time.Time) *verdicts {
	v := verify(t, nc, w, accounts, f, deadline)
	v.report(t)
	return v
}

// verify checks every promise of the run against the stream, the read
// models and UNIQUE, and returns what held and what broke.
func verify(t *testing.T, nc *nats.Conn, w *workload, accounts []string, f *fleet, deadline time.Time) *verdicts {
	v := &verdicts{}
	once := v.promise("every acknowledged command is in the stream exactly once (Es-Command-Id), at the sequence its reply gave")
	twins := v.promise("every resend gets the first reply byte for byte; answered twins never disagree")
	allowed := v.promise("every answer is one the contract allows (no 500; deposits and withdrawals on an open account, opens of a fresh id)")
	sound := v.promise("the stream is sound: each aggregate's Es-Version runs 1, 2, 3 … and no withdrawal overdraws")
	folds := v.promise("every balance and version in Redis (query.account.get at min_sequence = last sequence) equals the fold of the stream")
	names := v.promise("no username is held without its user, and every user's username is held by it (UNIQUE bucket vs UserRegistered)")
	alive := v.promise("no service process dies on its own")

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, err := js.Stream(ctx, streams.DefaultStream)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	last := info.State.LastSeq
	events, err := readStream(ctx, js, last)
	require.NoError(t, err)
	v.stream = events

	checkOnce(w, events, once)
	checkTwins(w, twins, allowed)
	folded := foldStream(events, sound)
	checkReadModels(ctx, nc, accounts, folded, last, folds)
	checkUsernames(ctx, js, events, names)
	for _, dead := range f.diedOnTheirOwn() {
		alive.violated("process", "%s", dead)
	}
	return v
}

func checkOnce(w *workload, events []storedEvent, p *promise) {
	byCommand := map[string][]storedEvent{}
	bySeq := map[uint64]storedEvent{}
	for _, e := range events {
		if e.commandID != "" {
			byCommand[e.commandID] = append(byCommand[e.commandID], e)
		}
		bySeq[e.seq] = e
	}
	for _, c := range w.commands {
		stored := byCommand[c.commandID]
		ok, acked := c.acked()
		switch {
		case acked && len(stored) != 1:
			p.violated(c.subject+": acked, not once", "%s: acknowledged (%s) but the stream holds %d events with Es-Command-Id %s (sequences %v); want exactly 1",
				c, ok.body, len(stored), c.commandID, sequences(stored))
		case !acked && len(stored) > 1:
			p.violated(c.subject+": unacked, stored twice", "%s: never acknowledged, and the stream holds it %d times (sequences %v); want at most 1",
				c, len(stored), sequences(stored))
		}
		if !acked {
			continue
		}
		var r struct {
			Sequence uint64 `json:"sequence"`
		}
		if err := json.Unmarshal(ok.body, &r); err != nil {
			p.violated(c.subject+": bad reply", "%s: success reply is not the contract's JSON: %v: %s", c, err, ok.body)
			continue
		}
		if at, found := bySeq[r.Sequence]; !found || at.commandID != c.commandID {
			p.violated(c.subject+": wrong sequence", "%s: reply says sequence %d, but the event there has Es-Command-Id %q (subject %s)", c, r.Sequence, at.commandID, at.subject)
		}
	}
}

func sequences(events []storedEvent) []uint64 {
	seqs := make([]uint64, len(events))
	for i, e := range events {
		seqs[i] = e.seq
	}
	return seqs
}

func checkTwins(w *workload, twins, allowed *promise) {
	for _, c := range w.commands {
		var first *answer
		firstAt := 0
		for i := range c.answers {
			a := &c.answers[i]
			if a.status == statusOK {
				if first == nil {
					first, firstAt = a, i
				} else if !bytes.Equal(first.body, a.body) {
					twins.violated(c.subject+": two different successes", "%s: two successes differ: %s; %s", c, first, a)
				}
			}
		}
		var settled *answer
		for i := range c.answers {
			a := &c.answers[i]
			if a.status == statusOK || !a.final(c.subject) {
				continue
			}
			switch {
			case first != nil && (a.attempt == attemptConcurrent || first.attempt == attemptConcurrent):
				twins.violated(c.subject+": success vs "+a.status+" (concurrent twins)", "%s: %s, but %s; a resend must get the first reply", c, first, a)
			case first != nil && firstAt < i:
				twins.violated(c.subject+": success, then "+a.status, "%s: %s, but then %s; a resend must get the first reply", c, first, a)
			case first != nil:
				twins.violated(c.subject+": "+a.status+", then success", "%s: %s, but then %s; a resend must get the first reply", c, a, first)
			case settled != nil && settled.status != a.status:
				twins.violated(c.subject+": "+settled.status+" vs "+a.status, "%s: twins disagree: %s; %s", c, settled, a)
			case settled == nil:
				settled = a
			}
		}
		for _, a := range c.answers {
			if a.status == "500" {
				allowed.violated(c.subject+": 500", "%s: %s (a 500 is a bug)", c, a)
			}
		}
		if first != nil || settled == nil {
			continue
		}
		ok := false
		switch c.subject {
		case "cmd.account.withdraw":
			ok = settled.status == "422" // insufficient funds
		case "cmd.user.register":
			ok = settled.status == "409" // username or user id taken
		case "cmd.account.open":
			// The id is fresh: if it exists, this command created it and
			// the answer should have been its first reply.
		}
		if !ok {
			allowed.violated(c.subject+": "+settled.status, "%s: %s; all answers: %v", c, settled, c.answers)
		}
	}
}

// foldStream folds every account from its raw events, checking each
// aggregate's version sequence on the way.
func foldStream(events []storedEvent, p *promise) map[string]*account {
	versions := map[string]uint64{}
	accounts := map[string]*account{}
	for _, e := range events {
		typ, id := e.aggregate()
		key := typ + "." + id
		want := versions[key] + 1
		if got, err := strconv.ParseUint(e.version, 10, 64); err != nil || got != want {
			p.violated("version sequence", "%s: event %s at sequence %d has Es-Version %q, want %d", key, e.typ, e.seq, e.version, want)
		}
		versions[key] = want
		if typ != "account" {
			continue
		}
		var data struct {
			Owner  string `json:"owner"`
			Amount int64  `json:"amount"`
		}
		if err := json.Unmarshal(e.data, &data); err != nil {
			p.violated("payload", "%s: event %s at sequence %d: payload %s: %v", key, e.typ, e.seq, e.data, err)
			continue
		}
		a := accounts[id]
		if a == nil {
			a = &account{}
			accounts[id] = a
		}
		switch e.typ {
		case "AccountOpened":
			a.owner = data.Owner
		case "MoneyDeposited":
			a.balance += data.Amount
		case "MoneyWithdrawn":
			a.balance -= data.Amount
			if a.balance < 0 {
				p.violated("overdraft", "%s: MoneyWithdrawn %d at sequence %d overdraws the account to %d", key, data.Amount, e.seq, a.balance)
			}
		case "AccountFrozen":
			a.frozen = true
		case "AccountUnfrozen":
			a.frozen = false
		default:
			p.violated("unknown event", "%s: unknown event type %q at sequence %d", key, e.typ, e.seq)
		}
		a.version = want
	}
	return accounts
}

// checkReadModels reads every account through the reader at min_sequence
// last and compares it with the fold.
func checkReadModels(ctx context.Context, nc *nats.Conn, ids []string, folded map[string]*account, last uint64, p *promise) {
	for _, id := range ids {
		want := folded[id]
		if want == nil {
			p.violated("opened account missing", "account %s: acknowledged as opened, but the stream has no event of it", id)
			continue
		}
		got, err := queryAccount(ctx, nc, id, last)
		if err != nil {
			p.violated("no answer", "account %s: %v (the stream folds to balance %d version %d)", id, err, want.balance, want.version)
			continue
		}
		kind := ""
		switch {
		case got.Balance != want.balance && got.Version == want.version:
			kind = "balance differs at the same version"
		case got.Version != want.version:
			kind = "version differs"
		case got.Owner != want.owner || got.Frozen != want.frozen:
			kind = "owner or frozen differs"
		}
		if kind != "" {
			p.violated(kind, "account %s: read model has balance %d version %d owner %q frozen %v; the stream folds to balance %d version %d owner %q frozen %v",
				id, got.Balance, got.Version, got.Owner, got.Frozen, want.balance, want.version, want.owner, want.frozen)
		}
	}
}

type accountView struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
	Frozen  bool   `json:"frozen"`
	Version uint64 `json:"version"`
}

// queryAccount asks the reader for an account at min_sequence, again while
// it answers 503 stale, until ctx ends.
func queryAccount(ctx context.Context, nc *nats.Conn, id string, minSeq uint64) (accountView, error) {
	body := fmt.Appendf(nil, `{"id":%q,"min_sequence":%d,"wait_ms":%d}`, id, minSeq, queryWait.Milliseconds())
	var lastErr error
	for {
		msg, err := nc.Request("query.account.get", body, queryWait+time.Second)
		switch {
		case err != nil:
			lastErr = fmt.Errorf("query.account.get at min_sequence %d: %w", minSeq, err)
		case msg.Header.Get(micro.ErrorCodeHeader) == "503":
			lastErr = fmt.Errorf("query.account.get at min_sequence %d: 503 %s", minSeq, msg.Data)
		case msg.Header.Get(micro.ErrorCodeHeader) != "":
			return accountView{}, fmt.Errorf("query.account.get at min_sequence %d: %s %s", minSeq, msg.Header.Get(micro.ErrorCodeHeader), msg.Data)
		default:
			var r struct {
				Data accountView `json:"data"`
			}
			if err := json.Unmarshal(msg.Data, &r); err != nil {
				return accountView{}, fmt.Errorf("query.account.get: %w: %s", err, msg.Data)
			}
			return r.Data, nil
		}
		if ctx.Err() != nil {
			return accountView{}, fmt.Errorf("no answer by the settle deadline: %w", lastErr)
		}
	}
}

// checkUsernames compares the UNIQUE bucket's user keys with the
// UserRegistered events.
func checkUsernames(ctx context.Context, js jetstream.JetStream, events []storedEvent, p *promise) {
	registered := map[string]string{} // user id -> username
	owners := map[string][]string{}   // username -> user ids
	// Usernames are stored sealed (personal data): opened with the keys.
	sealed := shred.KeyringOf(js, shred.DefaultBucket)
	for _, e := range events {
		typ, id := e.aggregate()
		if typ != userKeyType || e.typ != "UserRegistered" {
			continue
		}
		var data struct {
			Username string `json:"username"`
		}
		plain, _, err := sealed.Open(ctx, typ+"."+id, e.typ, e.data)
		if err == nil {
			err = json.Unmarshal(plain, &data)
		}
		if err != nil {
			p.violated("payload", "user %s: UserRegistered at sequence %d: payload: %v", id, e.seq, err)
			continue
		}
		registered[id] = data.Username
		owners[data.Username] = append(owners[data.Username], id)
	}
	for name, ids := range owners {
		if len(ids) > 1 {
			p.violated("username registered twice", "username %q is registered by %d users: %v", name, len(ids), ids)
		}
	}
	kv, err := js.KeyValue(ctx, uniqueBucket)
	if err != nil {
		p.violated("bucket", "bucket %s: %v", uniqueBucket, err)
		return
	}
	held := map[string]string{} // username -> holder
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		p.violated("bucket", "bucket %s: list keys: %v", uniqueBucket, err)
		return
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		encoded, ok := strings.CutPrefix(k, userKeyType+".")
		if !ok {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(encoded)
		if err != nil {
			p.violated("bucket", "%s key %s is not <type>.<base64url(key)>: %v", uniqueBucket, k, err)
			continue
		}
		name := string(raw)
		entry, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released since the listing
		}
		if err != nil {
			p.violated("bucket", "%s key %s: %v", uniqueBucket, k, err)
			continue
		}
		holder := uniqueHolder(entry.Value())
		held[name] = holder
		switch got, ok := registered[holder]; {
		case !ok:
			p.violated("held by no user", "username %q is held (%s key %s) by user %s, which has no UserRegistered event", name, uniqueBucket, k, holder)
		case got != name:
			p.violated("held by a user of another name", "username %q is held (%s key %s) by user %s, which registered as %q", name, uniqueBucket, k, holder, got)
		}
	}
	for id, name := range registered {
		if holder, ok := held[name]; !ok {
			p.violated("username not reserved", "user %s registered as %q, but the username is not reserved in %s", id, name, uniqueBucket)
		} else if holder != id {
			p.violated("reserved for another user", "user %s registered as %q, but the username is reserved for %s", id, name, holder)
		}
	}
}

// uniqueHolder is the aggregate id a UNIQUE entry names: the writer keeps a
// JSON object {"aggregate_id", …}; writers before it kept the bare id.
func uniqueHolder(value []byte) string {
	var entry struct {
		AggregateID string `json:"aggregate_id"`
	}
	if json.Unmarshal(value, &entry) == nil && entry.AggregateID != "" {
		return entry.AggregateID
	}
	return string(value)
}
