package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/streams"
)

// ProcessName names the transfer process manager.
const ProcessName = "transfers"

// Command ids: the steps' names. Each money movement has its own, so a
// resend after a crash is answered as its first attempt was.
const (
	stepStartWithdrawal = "start-withdrawal"
	stepWithdraw        = "withdraw"
	stepRecordDebit     = "debited"
	stepFail            = "failed"
	stepStartDeposit    = "start-deposit"
	stepDeposit         = "deposit"
	stepComplete        = "completed"
	stepRefundMoney     = "refund"
	stepRefunded        = "refunded"
	stepRefundRefused   = "refund-refused"
	stepExpire          = "expire"
)

// maxSteps bounds the steps of one reaction: a transfer takes at most six.
const maxSteps = 12

// Process returns the transfer process manager: it follows the transfers'
// events, loads the transfer (the process's state) and takes the steps Next
// names; a transfer that has not ended after timeout is expired (0: never).
//
// React reads nothing from the event but its transfer (and, for
// TransferRequested, the time to schedule the timeout at): it decides from
// the transfer's latest state, and the transfer makes each choice once. So
// an event handled again, or after a later event of its transfer (a
// redelivery after the active manager changed), sends only commands already
// sent, with the same command ids, and changes nothing; and transfers run
// concurrently, each on its own (see package process).
func Process(store *streams.Store, timeout time.Duration) (process.Process, error) {
	repo, err := streams.NewRepository(store, streams.ModelOf(Definition()))
	if err != nil {
		return process.Process{}, err
	}
	p := process.Process{
		Name:     ProcessName,
		Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
			if ev.Type == "TransferRequested" && timeout > 0 {
				at := ev.Time
				if at.IsZero() {
					at = time.Now()
				}
				if err := c.Schedule(ctx, at.Add(timeout), nil); err != nil {
					return err
				}
			}
			return run(ctx, repo, c, ev.Ref.ID())
		},
	}
	if timeout > 0 {
		p.Fired = func(ctx context.Context, c *process.Commands, t process.Timer) error {
			_, err := c.Send(ctx, Type, "expire", t.Ref.ID(), stepExpire, nil)
			return err // the TransferExpired event, if any, brings the compensation
		}
	}
	return p, nil
}

// run takes the steps of transfer id until Next returns StepNone.
func run(ctx context.Context, repo *streams.Repository[State], c *process.Commands, id string) error {
	for range maxSteps {
		agg, err := repo.Load(ctx, id)
		if err != nil {
			return fmt.Errorf("load transfer %s: %w", id, err)
		}
		s := agg.State
		step := Next(s)
		switch step {
		case StepNone:
			return nil
		case StepStartWithdrawal:
			_, err = c.Send(ctx, Type, "start_withdrawal", id, stepStartWithdrawal, nil) // refused: it expired
		case StepWithdraw:
			err = withdraw(ctx, c, id, s)
		case StepStartDeposit:
			_, err = c.Send(ctx, Type, "start_deposit", id, stepStartDeposit, nil) // refused: it expired
		case StepDeposit:
			err = deposit(ctx, c, id, s)
		case StepRefund:
			err = refund(ctx, c, id, s, ExpiredReason)
		}
		if err != nil {
			return fmt.Errorf("transfer %s, step %s: %w", id, step, err)
		}
	}
	return fmt.Errorf("transfer %s: no end after %d steps", id, maxSteps)
}

func withdraw(ctx context.Context, c *process.Commands, id string, s State) error {
	out, err := c.Send(ctx, account.Type, "withdraw", s.From, stepWithdraw, account.Withdraw{Amount: s.Amount})
	if err != nil {
		return err
	}
	if out.Accepted() {
		return record(ctx, c, "record_debit", id, stepRecordDebit, nil)
	}
	return record(ctx, c, "fail", id, stepFail, Fail{Reason: reasonOf("withdrawal from " + s.From + " refused: " + out.Refused.Message)})
}

func deposit(ctx context.Context, c *process.Commands, id string, s State) error {
	out, err := c.Send(ctx, account.Type, "deposit", s.To, stepDeposit, account.Deposit{Amount: s.Amount})
	if err != nil {
		return err
	}
	if out.Accepted() {
		return record(ctx, c, "complete", id, stepComplete, nil)
	}
	return refund(ctx, c, id, s, "deposit to "+s.To+" refused: "+out.Refused.Message)
}

func refund(ctx context.Context, c *process.Commands, id string, s State, reason string) error {
	out, err := c.Send(ctx, account.Type, "deposit", s.From, stepRefundMoney, account.Deposit{Amount: s.Amount})
	if err != nil {
		return err
	}
	if out.Accepted() {
		return record(ctx, c, "refund", id, stepRefunded, Refund{Reason: reasonOf(reason)})
	}
	return record(ctx, c, "refund_refused", id, stepRefundRefused,
		RefundRefused{Reason: reasonOf("refund to " + s.From + " refused: " + out.Refused.Message + " (after: " + reason + ")")})
}

// record sends a command to the transfer: a refusal here is a bug (the
// steps follow the aggregate's rules), so it is an error.
func record(ctx context.Context, c *process.Commands, command, id, step string, data any) error {
	out, err := c.Send(ctx, Type, command, id, step, data)
	if err != nil {
		return err
	}
	if !out.Accepted() {
		return fmt.Errorf("transfer.%s refused: %w", command, out.Refused)
	}
	return nil
}

// reasonOf cuts a reason to MaxReasonLength characters.
func reasonOf(s string) string {
	if r := []rune(s); len(r) > MaxReasonLength {
		return string(r[:MaxReasonLength-1]) + "…"
	}
	return s
}
