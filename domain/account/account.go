package account

import (
	"fmt"
	"math"

	"github.com/jetsource/jetsource/aggregate"
)

// Type is the aggregate type, the <type> of events.account.<id> and
// cmd.account.<command>.
const Type = "account"

// State is an account as its events left it.
type State struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
	Frozen  bool   `json:"frozen"`
}

// String describes the state for logs and examples.
func (s State) String() string {
	return fmt.Sprintf("owner=%s balance=%d frozen=%t", s.Owner, s.Balance, s.Frozen)
}

// Definition returns the account aggregate with a registry of its own.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"open":     aggregate.Create[State](open),
			"deposit":  aggregate.Handle(deposit),
			"withdraw": aggregate.Handle(withdraw),
			"freeze":   aggregate.Handle(freeze),
			"unfreeze": aggregate.Handle(unfreeze),
		},
	}
}

func open(c Open) ([]any, error) {
	return []any{AccountOpened(c)}, nil
}

func deposit(s State, c Deposit) ([]any, error) {
	if s.Frozen {
		return nil, aggregate.Rejected("account is frozen: deposits are refused until it is unfrozen")
	}
	if s.Balance > math.MaxInt64-c.Amount {
		return nil, aggregate.Rejected("deposit of %d would overflow the balance %d (at most %d)", c.Amount, s.Balance, int64(math.MaxInt64))
	}
	return []any{MoneyDeposited(c)}, nil
}

func withdraw(s State, c Withdraw) ([]any, error) {
	if s.Frozen {
		return nil, aggregate.Rejected("account is frozen: withdrawals are refused until it is unfrozen")
	}
	if c.Amount > s.Balance {
		return nil, aggregate.Rejected("insufficient funds: balance %d, withdrawal %d", s.Balance, c.Amount)
	}
	return []any{MoneyWithdrawn(c)}, nil
}

func freeze(s State, _ Freeze) ([]any, error) {
	if s.Frozen {
		return nil, aggregate.Rejected("account is already frozen")
	}
	return []any{AccountFrozen{}}, nil
}

func unfreeze(s State, _ Unfreeze) ([]any, error) {
	if !s.Frozen {
		return nil, aggregate.Rejected("account is not frozen: there is nothing to unfreeze")
	}
	return []any{AccountUnfrozen{}}, nil
}

// Evolve folds one event into the state. It is pure and total: events of
// other types leave the state as it was.
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
