package account

import "github.com/jetsource/jetsource/codec"

// AccountOpened records that an account was opened for its owner.
type AccountOpened struct {
	Owner string `json:"owner"`
}

// MoneyDeposited records a deposit of a positive amount.
type MoneyDeposited struct {
	Amount int64 `json:"amount"`
}

// MoneyWithdrawn records a withdrawal of a positive amount.
type MoneyWithdrawn struct {
	Amount int64 `json:"amount"`
}

// AccountFrozen records that the account was frozen: it refuses deposits and
// withdrawals until it is unfrozen.
type AccountFrozen struct{}

// AccountUnfrozen records that a freeze was lifted.
type AccountUnfrozen struct{}

// Events returns a new registry of the account's event types, each at schema
// version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[AccountOpened](r, "AccountOpened")
	codec.Register[MoneyDeposited](r, "MoneyDeposited")
	codec.Register[MoneyWithdrawn](r, "MoneyWithdrawn")
	codec.Register[AccountFrozen](r, "AccountFrozen")
	codec.Register[AccountUnfrozen](r, "AccountUnfrozen")
	return r
}
