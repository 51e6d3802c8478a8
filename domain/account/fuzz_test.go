package account_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/account"
)

// FuzzDecideAccount feeds arbitrary bytes as the data of every account
// command, against an account in an arbitrary state: a command never panics,
// and either fails with ErrInvalid or ErrRejected or decides events that keep
// the invariants.
func FuzzDecideAccount(f *testing.F) {
	for _, data := range []string{``, `null`, `{}`, `[]`, `"x"`, `{"amount":1}`, `{"amount":-1}`, `{"amount":0}`,
		`{"amount":1.5}`, `{"amount":"100"}`, `{"amount":1e30}`, `{"amount":99999999999999999999}`, `{"amount":1e400}`,
		`{"owner":"ada"}`, `{"owner":"\u0000"}`, `{"owner":"a","amount":1}`, `{"amount":1}{}`, "{\"owner\":\"\xff\"}"} {
		f.Add([]byte(data), int64(30), false)
	}
	f.Add([]byte(`{"amount":9223372036854775807}`), int64(math.MaxInt64), false)
	f.Add([]byte(`{"amount":1}`), int64(0), true)
	def := account.Definition()
	f.Fuzz(func(t *testing.T, data []byte, balance int64, isFrozen bool) {
		if balance < 0 {
			balance = -(balance + 1) // a balance is never negative
		}
		for name := range def.Commands {
			state := account.State{Balance: balance, Frozen: isFrozen}
			exists := !def.Creates(name)
			if exists {
				state.Owner = "ada"
			}
			dec, err := def.Decide(name, state, exists, json.RawMessage(data))
			if err != nil {
				require.True(t, errors.Is(err, aggregate.ErrInvalid) || errors.Is(err, aggregate.ErrRejected), "%s: unexpected error %v", name, err)
				require.Empty(t, dec.Events)
				continue
			}
			require.Len(t, dec.Events, 1, name)
			for _, e := range dec.Events {
				_, encErr := def.Events.Encode(e)
				require.NoError(t, encErr, "%s decided an unregistered event %T", name, e)
				switch e := e.(type) {
				case account.AccountOpened:
					require.NoError(t, account.Open(e).Validate())
				case account.MoneyDeposited:
					require.Positive(t, e.Amount)
				case account.MoneyWithdrawn:
					require.Positive(t, e.Amount)
				}
				state = def.Evolve(state, e)
			}
			require.GreaterOrEqual(t, state.Balance, int64(0), "%s: the balance never goes negative or overflows", name)
		}
	})
}
