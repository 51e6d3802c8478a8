// Package account is the sample bank account aggregate of the seed talk.
//
// Commands: open {owner}, deposit {amount}, withdraw {amount}, freeze,
// unfreeze. Events: AccountOpened, MoneyDeposited, MoneyWithdrawn,
// AccountFrozen, AccountUnfrozen. Invariants: amounts are positive integers,
// a withdrawal never overdraws, a frozen account refuses deposits and
// withdrawals, and the balance never overflows.
package account

import (
	"fmt"
	"math"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/text"
)

// Type is the aggregate type.
const Type = "account"

// MaxOwnerLength is the longest owner name accepted, in characters.
const MaxOwnerLength = 200

// State is an account's state.
type State struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
	Frozen  bool   `json:"frozen"`
}

// AccountOpened records that an account was opened for its owner.
type AccountOpened struct {
	Owner string `json:"owner"`
}

// MoneyDeposited records a deposit.
type MoneyDeposited struct {
	Amount int64 `json:"amount"`
}

// MoneyWithdrawn records a withdrawal.
type MoneyWithdrawn struct {
	Amount int64 `json:"amount"`
}

// AccountFrozen records that the account was frozen.
type AccountFrozen struct{}

// AccountUnfrozen records that the account was unfrozen.
type AccountUnfrozen struct{}

// Open is the open command.
type Open struct {
	Owner string `json:"owner"`
}

// Validate checks the owner.
func (c Open) Validate() error { return text.CheckName("owner", c.Owner, MaxOwnerLength) }

// Deposit is the deposit command.
type Deposit struct {
	Amount int64 `json:"amount"`
}

// Validate checks the amount.
func (c Deposit) Validate() error { return text.CheckPositive("amount", c.Amount) }

// Withdraw is the withdraw command.
type Withdraw struct {
	Amount int64 `json:"amount"`
}

// Validate checks the amount.
func (c Withdraw) Validate() error { return text.CheckPositive("amount", c.Amount) }

// Freeze is the freeze command; it has no fields.
type Freeze struct{}

// Unfreeze is the unfreeze command; it has no fields.
type Unfreeze struct{}

// Events returns a registry of the account's event types.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[AccountOpened](r, "AccountOpened")
	codec.Register[MoneyDeposited](r, "MoneyDeposited")
	codec.Register[MoneyWithdrawn](r, "MoneyWithdrawn")
	codec.Register[AccountFrozen](r, "AccountFrozen")
	codec.Register[AccountUnfrozen](r, "AccountUnfrozen")
	return r
}

// Definition returns the account aggregate.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"open": aggregate.Create[State](func(c Open) ([]any, error) {
				return []any{AccountOpened(c)}, nil
			}),
			"deposit": aggregate.Handle(func(s State, c Deposit) ([]any, error) {
				if s.Frozen {
					return nil, aggregate.Rejected("account is frozen: deposits are refused")
				}
				if s.Balance > math.MaxInt64-c.Amount {
					return nil, aggregate.Rejected("deposit of %d would overflow the balance %d", c.Amount, s.Balance)
				}
				return []any{MoneyDeposited(c)}, nil
			}),
			"withdraw": aggregate.Handle(func(s State, c Withdraw) ([]any, error) {
				if s.Frozen {
					return nil, aggregate.Rejected("account is frozen: withdrawals are refused")
				}
				if c.Amount > s.Balance {
					return nil, aggregate.Rejected("insufficient funds: balance %d, withdrawal %d", s.Balance, c.Amount)
				}
				return []any{MoneyWithdrawn(c)}, nil
			}),
			"freeze": aggregate.Handle(func(s State, _ Freeze) ([]any, error) {
				if s.Frozen {
					return nil, aggregate.Rejected("account is already frozen")
				}
				return []any{AccountFrozen{}}, nil
			}),
			"unfreeze": aggregate.Handle(func(s State, _ Unfreeze) ([]any, error) {
				if !s.Frozen {
					return nil, aggregate.Rejected("account is not frozen")
				}
				return []any{AccountUnfrozen{}}, nil
			}),
		},
	}
}

// Evolve folds one event into the state.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case AccountOpened:
		s.Owner = e.Owner
	case MoneyDeposited:
		s.Balance += e.Amount
	case MoneyWithdrawn:
		s.Balance -= e.Amount
	case AccountFrozen:
		s.Frozen = true
	case AccountUnfrozen:
		s.Frozen = false
	}
	return s
}

// String describes the state for logs and examples.
func (s State) String() string {
	return fmt.Sprintf("owner=%s balance=%d frozen=%t", s.Owner, s.Balance, s.Frozen)
}
