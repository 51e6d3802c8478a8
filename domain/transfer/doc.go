// Package transfer is the sample money transfer between two accounts: a
// Transfer aggregate, the state of the process that moves the money, and the
// steps (Next) a process manager takes from it.
//
// Commands (subject cmd.transfer.<command>, data in braces):
//
//	request          {from, to, amount} creates the transfer       -> TransferRequested {from, to, amount}
//	start_withdrawal                    the manager will withdraw  -> WithdrawalStarted
//	record_debit                        the source was withdrawn   -> TransferDebited
//	fail             {reason}           the withdrawal was refused -> TransferFailed {reason}
//	start_deposit                       the manager will deposit   -> DepositStarted
//	complete                            the target was deposited   -> TransferCompleted
//	refund           {reason}           the source was refunded    -> TransferRefunded {reason}
//	refund_refused   {reason}           the refund was refused     -> TransferRefundRefused {reason}
//	expire                              the transfer timed out     -> TransferExpired
//
// Only request is for clients; the others are the process manager's
// (package process, Manager in this package), each sent with a command_id
// derived from the transfer and the step, so that a resend after a crash is
// answered as the first attempt was.
//
// Money is never created or lost because the aggregate is the one place where
// the two irreversible choices are made, once: a withdrawal is started only
// before the transfer expired (start_withdrawal refuses an expired transfer),
// and a deposit to the target is started only before it expired
// (start_deposit refuses it, and expire does nothing once the deposit
// started). So a transfer whose source was debited ends with exactly one of a
// deposit to the target (completed) or a refund to the source (failed,
// refunded), whatever the order of a timeout, a crash and a resend.
//
// Statuses: requested, withdrawing, debited, depositing, completed, failed
// (reason set; refunded tells whether money was withdrawn and given back) and
// stuck (the refund itself was refused, e.g. the source was frozen meanwhile:
// the money is held by the transfer and a person must act).
package transfer
