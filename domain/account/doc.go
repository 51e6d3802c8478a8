// Package account is the sample bank account aggregate: an owner, a balance
// in whole units of money (int64, no fractions) and a frozen flag, rebuilt
// from the account's events.
//
// Commands (subject cmd.account.<command>, data in braces):
//
//	open     {owner}   creates the account            -> AccountOpened {owner}
//	deposit  {amount}  adds money                     -> MoneyDeposited {amount}
//	withdraw {amount}  takes money out                -> MoneyWithdrawn {amount}
//	freeze             stops deposits and withdrawals -> AccountFrozen
//	unfreeze           lifts a freeze                 -> AccountUnfrozen
//
// Invariants, checked by the commands (Evolve, which folds facts already
// stored, never refuses anything):
//
//   - owner is present, not blank, valid UTF-8, at most MaxOwnerLength
//     characters and free of control characters (aggregate.ErrInvalid);
//   - amount is a positive integer: zero and negatives are
//     aggregate.ErrInvalid, and the strict JSON decoding already refuses
//     fractions, strings and numbers beyond int64;
//   - a withdrawal never overdraws ("insufficient funds: balance 30,
//     withdrawal 50", aggregate.ErrRejected);
//   - a deposit that would overflow the balance is aggregate.ErrRejected;
//   - a frozen account refuses deposits and withdrawals, and freezing a frozen
//     account or unfreezing one that is not frozen is aggregate.ErrRejected.
//
// Every command but open needs an existing account (aggregate.ErrNotFound),
// and open needs a new one (aggregate.ErrExists).
package account
