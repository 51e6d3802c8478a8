package transfer

// Step is the next thing the process manager does for a transfer.
type Step int

// The steps, in the order a transfer that completes takes them.
const (
	// StepNone: the transfer ended, or waits on nothing the manager does.
	StepNone Step = iota
	// StepStartWithdrawal: cmd.transfer.start_withdrawal (refused once expired).
	StepStartWithdrawal
	// StepWithdraw: cmd.account.withdraw from the source; then record_debit,
	// or fail with the refusal's message.
	StepWithdraw
	// StepStartDeposit: cmd.transfer.start_deposit (refused once expired).
	StepStartDeposit
	// StepDeposit: cmd.account.deposit to the target; then complete, or
	// refund the source with the refusal's message.
	StepDeposit
	// StepRefund: the transfer expired after its source was debited and
	// before its deposit started: deposit back to the source, then refund.
	StepRefund
)

var stepNames = [...]string{"none", "start_withdrawal", "withdraw", "start_deposit", "deposit", "refund"}

func (s Step) String() string { return stepNames[s] }

// Next is the step that follows state s. It is pure: the manager runs it on
// the transfer's latest state until it returns StepNone.
func Next(s State) Step {
	switch {
	case s.Done():
		return StepNone
	case !s.WithdrawalStarted:
		if s.Expired {
			return StepNone
		}
		return StepStartWithdrawal
	case !s.Debited:
		return StepWithdraw
	case s.DepositStarted:
		return StepDeposit
	case s.Expired:
		return StepRefund
	}
	return StepStartDeposit
}
