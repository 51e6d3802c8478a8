package transfer_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/testkit"
)

var (
	requested  = []any{transfer.TransferRequested{From: "a", To: "b", Amount: 10}}
	debited    = append(append([]any{}, requested...), transfer.WithdrawalStarted{}, transfer.TransferDebited{})
	depositing = append(append([]any{}, debited...), transfer.DepositStarted{})
)

func TestRequest(t *testing.T) {
	testkit.RunAggregateCases(t, transfer.Definition(), []testkit.AggregateCase{
		{Name: "requests", Command: "request", Data: `{"from":"a","to":"b","amount":10}`, Then: requested},
		{Name: "refuses the same account", Command: "request", Data: `{"from":"a","to":"a","amount":10}`, Error: aggregate.ErrInvalid, ErrorContains: "same account"},
		{Name: "refuses a zero amount", Command: "request", Data: `{"from":"a","to":"b","amount":0}`, Error: aggregate.ErrInvalid, ErrorContains: "amount"},
		{Name: "refuses a bad account id", Command: "request", Data: `{"from":"a.b","to":"b","amount":1}`, Error: aggregate.ErrInvalid, ErrorContains: "from must be 1 to 128 characters"},
		{Name: "refuses a missing target", Command: "request", Data: `{"from":"a","amount":1}`, Error: aggregate.ErrInvalid, ErrorContains: "to is required"},
		{Name: "refuses a second request", Command: "request", Given: requested, Data: `{"from":"a","to":"b","amount":10}`, Error: aggregate.ErrExists},
	})
}

func TestTheAggregateMakesEachChoiceOnce(t *testing.T) {
	expired := append(append([]any{}, debited...), transfer.TransferExpired{})
	testkit.RunAggregateCases(t, transfer.Definition(), []testkit.AggregateCase{
		{Name: "a timeout before the withdrawal stops it", Command: "start_withdrawal", Given: append(append([]any{}, requested...), transfer.TransferExpired{}),
			Error: aggregate.ErrRejected, ErrorContains: "timed out"},
		{Name: "a timeout after the debit stops the deposit", Command: "start_deposit", Given: expired, Error: aggregate.ErrRejected, ErrorContains: "timed out"},
		{Name: "a timeout once the deposit started does nothing", Command: "expire", Given: depositing, Then: []any{}},
		{Name: "a second timeout does nothing", Command: "expire", Given: expired, Then: []any{}},
		{Name: "a debit is recorded once", Command: "record_debit", Given: debited, Then: []any{}},
		{Name: "a debit is recorded even after a timeout", Command: "record_debit",
			Given: append(append([]any{}, requested...), transfer.WithdrawalStarted{}, transfer.TransferExpired{}), Then: []any{transfer.TransferDebited{}}},
		{Name: "no completion without a started deposit", Command: "complete", Given: debited, Error: aggregate.ErrRejected},
		{Name: "no refund of a completed transfer", Command: "refund", Data: `{"reason":"x"}`,
			Given: append(append([]any{}, depositing...), transfer.TransferCompleted{}), Error: aggregate.ErrRejected},
		{Name: "no completion of a refunded transfer", Command: "complete",
			Given: append(append([]any{}, depositing...), transfer.TransferRefunded{Reason: "x"}), Error: aggregate.ErrRejected},
		{Name: "no failed withdrawal after a debit", Command: "fail", Data: `{"reason":"x"}`, Given: debited, Error: aggregate.ErrRejected},
		{Name: "no refund without a debit", Command: "refund", Data: `{"reason":"x"}`, Given: requested, Error: aggregate.ErrRejected},
		{Name: "a reason is required", Command: "fail", Data: `{}`, Given: requested, Error: aggregate.ErrInvalid, ErrorContains: "reason is required"},
	})
}

// world is a pure model of the two accounts and the writer's idempotency:
// each step name moves money at most once, and a resend gets the first
// answer.
type world struct {
	balance map[string]int64
	frozen  map[string]bool
	answers map[string]bool // step -> accepted
	moves   map[string]int  // step -> times money moved
	def     aggregate.Definition[transfer.State]
	state   transfer.State
	events  []string
}

func (w *world) money(step, account string, amount int64) bool {
	if ok, seen := w.answers[step]; seen {
		return ok
	}
	ok := !w.frozen[account] && w.balance[account]+amount >= 0
	if ok {
		w.balance[account] += amount
		w.moves[step]++
	}
	w.answers[step] = ok
	return ok
}

func (w *world) command(t *testing.T, name string, data any) bool {
	raw, _ := json.Marshal(data)
	if data == nil {
		raw = nil
	}
	d, err := w.def.Decide(name, w.state, true, raw)
	if err != nil {
		require.ErrorIs(t, err, aggregate.ErrRejected, "%s on %+v", name, w.state)
		return false
	}
	for _, e := range d.Events {
		w.state = w.def.Evolve(w.state, e)
		w.events = append(w.events, name)
	}
	return true
}

// step takes the manager's next step, as domain/transfer's manager does.
func (w *world) step(t *testing.T) {
	s := w.state
	switch transfer.Next(s) {
	case transfer.StepStartWithdrawal:
		w.command(t, "start_withdrawal", nil)
	case transfer.StepWithdraw:
		if w.money("withdraw", s.From, -s.Amount) {
			w.command(t, "record_debit", nil)
		} else {
			w.command(t, "fail", transfer.Fail{Reason: "refused"})
		}
	case transfer.StepStartDeposit:
		w.command(t, "start_deposit", nil)
	case transfer.StepDeposit:
		if w.money("deposit", s.To, s.Amount) {
			w.command(t, "complete", nil)
		} else if w.money("refund", s.From, s.Amount) {
			w.command(t, "refund", transfer.Refund{Reason: "refused"})
		}
	case transfer.StepRefund:
		if w.money("refund", s.From, s.Amount) {
			w.command(t, "refund", transfer.Refund{Reason: transfer.ExpiredReason})
		}
	}
}

// Whatever the order of steps, timeouts and replays (a step taken again),
// money is neither created nor lost, the target gets the amount or the
// source gets it back (never both), and every transfer ends.
func TestEveryInterleavingOfStepsAndTimeoutsKeepsTheMoney(t *testing.T) {
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		w := &world{balance: map[string]int64{"a": int64(rng.IntN(20)), "b": 0},
			frozen: map[string]bool{"b": rng.IntN(3) == 0}, answers: map[string]bool{}, moves: map[string]int{},
			def: transfer.Definition()}
		w.state = w.def.Evolve(w.state, requested[0])
		total := w.balance["a"] + w.balance["b"]
		expired := false
		for range 40 {
			switch r := rng.IntN(10); {
			case r == 0 && !expired:
				expired = true
				w.command(t, "expire", nil)
			case r == 1 && w.state.Done():
				// a replay after a crash: the whole reaction again
				w.step(t)
			default:
				w.step(t)
			}
		}
		if !expired {
			w.command(t, "expire", nil)
		}
		for range 10 {
			w.step(t)
		}
		s := w.state
		require.True(t, s.Done(), "seed %d: %s after %v", seed, s, w.events)
		assert.Equal(t, total, w.balance["a"]+w.balance["b"], "seed %d: money kept (%v)", seed, w.events)
		for step, n := range w.moves {
			assert.LessOrEqual(t, n, 1, "seed %d: %s moved money %d times", seed, step, n)
		}
		assert.False(t, w.moves["deposit"] == 1 && w.moves["refund"] == 1, "seed %d: deposited and refunded", seed)
		switch s.Status() {
		case transfer.StatusCompleted:
			assert.Equal(t, 1, w.moves["withdraw"])
			assert.Equal(t, 1, w.moves["deposit"])
		case transfer.StatusFailed:
			assert.Equal(t, w.moves["withdraw"], w.moves["refund"], "seed %d: a debited transfer that failed was refunded", seed)
			assert.Equal(t, w.moves["withdraw"] == 1, s.Refunded)
			assert.NotEmpty(t, s.Reason)
		default:
			t.Fatalf("seed %d: status %s", seed, s.Status())
		}
	}
}
