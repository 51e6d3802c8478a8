package account_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/account"
)

func replay(events []any) account.State {
	var s account.State
	for _, e := range events {
		s = account.Evolve(s, e)
	}
	return s
}

func TestAccountCommands(t *testing.T) {
	def := account.Definition()
	require.NoError(t, def.Validate())
	open := account.State{Owner: "ada", Balance: 30}
	frozen := account.State{Owner: "ada", Balance: 30, Frozen: true}
	cases := []struct {
		name    string
		command string
		state   account.State
		exists  bool
		data    string
		want    []any
		err     error
		msg     string
	}{
		{"open", "open", account.State{}, false, `{"owner":"ada"}`, []any{account.AccountOpened{Owner: "ada"}}, nil, ""},
		{"open twice", "open", open, true, `{"owner":"ada"}`, nil, aggregate.ErrExists, "already exists"},
		{"open without owner", "open", account.State{}, false, `{}`, nil, aggregate.ErrInvalid, "owner is required"},
		{"open with control char", "open", account.State{}, false, `{"owner":"a\u0007"}`, nil, aggregate.ErrInvalid, "control characters"},
		{"deposit", "deposit", open, true, `{"amount":100}`, []any{account.MoneyDeposited{Amount: 100}}, nil, ""},
		{"deposit on missing account", "deposit", account.State{}, false, `{"amount":100}`, nil, aggregate.ErrNotFound, "not found"},
		{"deposit zero", "deposit", open, true, `{"amount":0}`, nil, aggregate.ErrInvalid, "amount must be a positive integer, got 0"},
		{"deposit negative", "deposit", open, true, `{"amount":-5}`, nil, aggregate.ErrInvalid, "got -5"},
		{"deposit fraction", "deposit", open, true, `{"amount":1.5}`, nil, aggregate.ErrInvalid, `field "amount" must be a whole number`},
		{"deposit string", "deposit", open, true, `{"amount":"100"}`, nil, aggregate.ErrInvalid, `field "amount"`},
		{"deposit huge", "deposit", open, true, `{"amount":1e30}`, nil, aggregate.ErrInvalid, `field "amount"`},
		{"deposit too big", "deposit", open, true, `{"amount":99999999999999999999}`, nil, aggregate.ErrInvalid, `field "amount"`},
		{"deposit missing amount", "deposit", open, true, `{}`, nil, aggregate.ErrInvalid, "got 0"},
		{"deposit unknown field", "deposit", open, true, `{"amount":1,"amout":2}`, nil, aggregate.ErrInvalid, `unknown field "amout"`},
		{"deposit array", "deposit", open, true, `[1]`, nil, aggregate.ErrInvalid, "JSON object"},
		{"deposit not json", "deposit", open, true, `{amount`, nil, aggregate.ErrInvalid, "data:"},
		{"deposit trailing", "deposit", open, true, `{"amount":1}{}`, nil, aggregate.ErrInvalid, "after the JSON object"},
		{"deposit frozen", "deposit", frozen, true, `{"amount":1}`, nil, aggregate.ErrRejected, "frozen"},
		{"deposit overflow", "deposit", account.State{Balance: 1 << 62}, true, fmt.Sprintf(`{"amount":%d}`, int64(1<<62)), nil, aggregate.ErrRejected, "overflow"},
		{"withdraw", "withdraw", open, true, `{"amount":30}`, []any{account.MoneyWithdrawn{Amount: 30}}, nil, ""},
		{"withdraw overdraw", "withdraw", open, true, `{"amount":50}`, nil, aggregate.ErrRejected, "insufficient funds: balance 30, withdrawal 50"},
		{"withdraw frozen", "withdraw", frozen, true, `{"amount":1}`, nil, aggregate.ErrRejected, "frozen"},
		{"freeze", "freeze", open, true, ``, []any{account.AccountFrozen{}}, nil, ""},
		{"freeze null data", "freeze", open, true, `null`, []any{account.AccountFrozen{}}, nil, ""},
		{"freeze twice", "freeze", frozen, true, ``, nil, aggregate.ErrRejected, "already frozen"},
		{"unfreeze", "unfreeze", frozen, true, `{}`, []any{account.AccountUnfrozen{}}, nil, ""},
		{"unfreeze open", "unfreeze", open, true, `{}`, nil, aggregate.ErrRejected, "not frozen"},
		{"unknown command", "close", open, true, `{}`, nil, aggregate.ErrUnknownCommand, `no command "close"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec, err := def.Decide(c.command, c.state, c.exists, json.RawMessage(c.data))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				assert.Contains(t, err.Error(), c.msg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, dec.Events)
		})
	}
}

func TestAccountReplay(t *testing.T) {
	s := replay([]any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 100}, account.MoneyWithdrawn{Amount: 30},
		account.AccountFrozen{}, account.AccountUnfrozen{}, account.MoneyDeposited{Amount: 5}})
	assert.Equal(t, account.State{Owner: "ada", Balance: 75}, s)
}

func TestAccountEventsRoundTrip(t *testing.T) {
	reg := account.Events()
	for _, e := range []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 7}, account.MoneyWithdrawn{Amount: 3}, account.AccountFrozen{}, account.AccountUnfrozen{}} {
		enc, err := reg.Encode(e)
		require.NoError(t, err)
		back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
		require.NoError(t, err)
		assert.Equal(t, e, back)
	}
}

func FuzzAccountDecide(f *testing.F) {
	for _, s := range []string{`{"amount":1}`, `{"owner":"x"}`, `[]`, `{"amount":-1}`, `null`, ``, `{"amount":1e400}`} {
		f.Add(s)
	}
	def := account.Definition()
	f.Fuzz(func(t *testing.T, data string) {
		for name := range def.Commands {
			for _, exists := range []bool{false, true} {
				dec, err := def.Decide(name, account.State{Owner: "a", Balance: 10}, exists, json.RawMessage(data))
				if err != nil {
					ok := errors.Is(err, aggregate.ErrInvalid) || errors.Is(err, aggregate.ErrRejected) || errors.Is(err, aggregate.ErrNotFound) || errors.Is(err, aggregate.ErrExists)
					require.True(t, ok, "unexpected error kind: %v", err)
					continue
				}
				s := replay(dec.Events)
				require.GreaterOrEqual(t, s.Balance, int64(-10), "withdrawals never overdraw")
			}
		}
	})
}

func ExampleDefinition() {
	def := account.Definition()
	var s account.State
	for _, step := range []struct{ cmd, data string }{{"open", `{"owner":"ada"}`}, {"deposit", `{"amount":100}`}, {"withdraw", `{"amount":30}`}} {
		dec, err := def.Decide(step.cmd, s, s.Owner != "", json.RawMessage(step.data))
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range dec.Events {
			s = def.Evolve(s, e)
		}
	}
	_, err := def.Decide("withdraw", s, true, json.RawMessage(`{"amount":500}`))
	fmt.Println(s)
	fmt.Println(err)
	// Output:
	// owner=ada balance=70 frozen=false
	// command rejected: insufficient funds: balance 70, withdrawal 500
}
