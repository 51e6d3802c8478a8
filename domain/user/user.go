package user

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
)

// Type is the aggregate type, the <type> of events.user.<id> and
// cmd.user.<command>.
const Type = "user"

// DefaultCost is the bcrypt cost Definition hashes passwords with.
const DefaultCost = bcrypt.DefaultCost

// State is a user as its events left it. PasswordHash is a bcrypt hash;
// read models must not expose it. A forgotten user has Forgotten set and
// its Username and PasswordHash read as "".
type State struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
	Forgotten    bool   `json:"forgotten,omitempty"`
}

// Definition returns the user aggregate, hashing passwords with DefaultCost,
// with a registry of its own.
func Definition() aggregate.Definition[State] { return DefinitionWithCost(DefaultCost) }

// DefinitionWithCost returns the user aggregate hashing passwords with the
// given bcrypt cost; tests use bcrypt.MinCost to run fast. It panics when
// cost is outside bcrypt.MinCost to bcrypt.MaxCost: that is a programming
// error, better found at start-up than at the first registration.
func DefinitionWithCost(cost int) aggregate.Definition[State] {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		panic(fmt.Sprintf("user: bcrypt cost %d is outside %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"register": aggregate.Create[State](func(c Register) ([]any, error) { return register(c, cost) },
				aggregate.Unique(Register.NormalizedUsername)),
			// The username is given back: another user may take it.
			"forget": aggregate.Handle(forget).Releasing(func(s State) string { return s.Username }),
		},
	}
}

func register(c Register, cost int) ([]any, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), cost)
	if err != nil {
		// bcrypt's errors name a cost or a length, never the password.
		return nil, fmt.Errorf("user: hash password: %w", err)
	}
	return []any{UserRegistered{Username: c.NormalizedUsername(), PasswordHash: string(hash)}}, nil
}

// forget forgets the user; forgetting a forgotten user appends nothing.
func forget(s State, _ Forget) ([]any, error) {
	if s.Forgotten {
		return nil, nil
	}
	return []any{UserForgotten{}}, nil
}

// Evolve folds one event into the state. It is pure and total: events of
// other types leave the state as it was.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case UserRegistered:
		s.Username = e.Username
		s.PasswordHash = e.PasswordHash
	case UserForgotten:
		s = State{Forgotten: true}
	}
	return s
}
