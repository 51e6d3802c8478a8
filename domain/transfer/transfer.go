package transfer

import (
	"fmt"

	"github.com/jetsource/jetsource/aggregate"
)

// Type is the aggregate type, the <type> of events.transfer.<id> and
// cmd.transfer.<command>.
const Type = "transfer"

// Statuses of a transfer.
const (
	StatusRequested   = "requested"
	StatusWithdrawing = "withdrawing"
	StatusDebited     = "debited"
	StatusDepositing  = "depositing"
	StatusCompleted   = "completed"
	StatusFailed      = "failed"
	StatusStuck       = "stuck"
)

// State is a transfer as its events left it: the state of its process.
type State struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	// Steps taken, each at most once.
	WithdrawalStarted bool   `json:"withdrawal_started,omitempty"`
	Debited           bool   `json:"debited,omitempty"`
	DepositStarted    bool   `json:"deposit_started,omitempty"`
	Completed         bool   `json:"completed,omitempty"`
	Refunded          bool   `json:"refunded,omitempty"`
	Failed            bool   `json:"failed,omitempty"`
	Expired           bool   `json:"expired,omitempty"`
	RefundRefused     bool   `json:"refund_refused,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

// Status names where the transfer stands.
func (s State) Status() string {
	switch {
	case s.Completed:
		return StatusCompleted
	case s.RefundRefused:
		return StatusStuck
	case s.Failed, s.Refunded, s.Expired && !s.WithdrawalStarted:
		return StatusFailed
	case s.DepositStarted:
		return StatusDepositing
	case s.Debited:
		return StatusDebited
	case s.WithdrawalStarted:
		return StatusWithdrawing
	}
	return StatusRequested
}

// Done reports whether the transfer reached an end: completed, failed or
// stuck.
func (s State) Done() bool {
	st := s.Status()
	return st == StatusCompleted || st == StatusFailed || st == StatusStuck
}

// String describes the state for logs and examples.
func (s State) String() string {
	return fmt.Sprintf("%s %d from %s to %s", s.Status(), s.Amount, s.From, s.To)
}

// Definition returns the transfer aggregate with a registry of its own.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"request":          aggregate.Create[State](request),
			"start_withdrawal": aggregate.Handle(startWithdrawal),
			"record_debit":     aggregate.Handle(recordDebit),
			"fail":             aggregate.Handle(fail),
			"start_deposit":    aggregate.Handle(startDeposit),
			"complete":         aggregate.Handle(complete),
			"refund":           aggregate.Handle(recordRefund),
			"refund_refused":   aggregate.Handle(refundRefused),
			"expire":           aggregate.Handle(expire),
		},
	}
}

// ExpiredReason is the reason of a transfer that timed out.
const ExpiredReason = "the transfer timed out before its deposit started"

func request(c Request) ([]any, error) { return []any{TransferRequested(c)}, nil }

func startWithdrawal(s State, _ StartWithdrawal) ([]any, error) {
	switch {
	case s.WithdrawalStarted:
		return nil, nil
	case s.Expired:
		return nil, aggregate.Rejected("%s", ExpiredReason)
	}
	return []any{WithdrawalStarted{}}, nil
}

func recordDebit(s State, _ RecordDebit) ([]any, error) {
	switch {
	case s.Debited:
		return nil, nil
	case !s.WithdrawalStarted:
		return nil, aggregate.Rejected("no withdrawal was started for this transfer")
	case s.Failed:
		return nil, aggregate.Rejected("the withdrawal of this transfer was recorded as refused")
	}
	return []any{TransferDebited{}}, nil
}

func fail(s State, c Fail) ([]any, error) {
	switch {
	case s.Failed:
		return nil, nil
	case !s.WithdrawalStarted:
		return nil, aggregate.Rejected("no withdrawal was started for this transfer")
	case s.Debited:
		return nil, aggregate.Rejected("the source was debited: the transfer ends with a deposit or a refund, not a failed withdrawal")
	}
	return []any{TransferFailed(c)}, nil
}

func startDeposit(s State, _ StartDeposit) ([]any, error) {
	switch {
	case s.DepositStarted:
		return nil, nil
	case !s.Debited:
		return nil, aggregate.Rejected("the source was not debited yet")
	case s.Expired:
		return nil, aggregate.Rejected("%s", ExpiredReason)
	}
	return []any{DepositStarted{}}, nil
}

func complete(s State, _ Complete) ([]any, error) {
	switch {
	case s.Completed:
		return nil, nil
	case !s.DepositStarted:
		return nil, aggregate.Rejected("no deposit was started for this transfer")
	case s.Refunded:
		return nil, aggregate.Rejected("the transfer was refunded")
	}
	return []any{TransferCompleted{}}, nil
}

func recordRefund(s State, c Refund) ([]any, error) {
	switch {
	case s.Refunded:
		return nil, nil
	case !s.Debited:
		return nil, aggregate.Rejected("the source was not debited: there is nothing to refund")
	case s.Completed:
		return nil, aggregate.Rejected("the transfer completed: its deposit cannot be refunded")
	}
	return []any{TransferRefunded(c)}, nil
}

func refundRefused(s State, c RefundRefused) ([]any, error) {
	switch {
	case s.RefundRefused:
		return nil, nil
	case !s.Debited || s.Refunded || s.Completed:
		return nil, aggregate.Rejected("the transfer holds no money to refund")
	}
	return []any{TransferRefundRefused(c)}, nil
}

// expire does nothing once the deposit started (its outcome decides) or the
// transfer ended: a timeout never undoes a step.
func expire(s State, _ Expire) ([]any, error) {
	if s.Expired || s.DepositStarted || s.Done() {
		return nil, nil
	}
	return []any{TransferExpired{}}, nil
}

// Evolve folds one event into the state. It is pure and total: events of
// other types leave the state as it was.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case TransferRequested:
		s.From, s.To, s.Amount = e.From, e.To, e.Amount
	case WithdrawalStarted:
		s.WithdrawalStarted = true
	case TransferDebited:
		s.Debited = true
	case TransferFailed:
		s.Failed, s.Reason = true, e.Reason
	case DepositStarted:
		s.DepositStarted = true
	case TransferCompleted:
		s.Completed = true
	case TransferRefunded:
		s.Refunded, s.Reason = true, e.Reason
	case TransferRefundRefused:
		s.RefundRefused, s.Reason = true, e.Reason
	case TransferExpired:
		s.Expired = true
		if !s.WithdrawalStarted {
			s.Reason = ExpiredReason
		}
	}
	return s
}
