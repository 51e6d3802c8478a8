package account_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/account"
)

// decideCase is one command run through Definition().Decide: either the
// events it must decide or the error it must wrap and a part of its message.
type decideCase struct {
	name    string
	command string
	state   account.State
	exists  bool
	data    string
	want    []any
	err     error
	msg     string
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	def := account.Definition()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec, err := def.Decide(c.command, c.state, c.exists, json.RawMessage(c.data))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				assert.Contains(t, err.Error(), c.msg)
				assert.Empty(t, dec.Events)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, dec.Events)
			assert.Empty(t, dec.Unique, "no account command reserves a unique key")
		})
	}
}

var (
	opened = account.State{Owner: "ada", Balance: 30}
	frozen = account.State{Owner: "ada", Balance: 30, Frozen: true}
)

func TestDefinitionIsValidAndFresh(t *testing.T) {
	a, b := account.Definition(), account.Definition()
	require.NoError(t, a.Validate())
	assert.Equal(t, account.Type, a.Type)
	assert.NotSame(t, a.Events, b.Events, "each Definition builds its own registry")
	assert.True(t, a.Creates("open"))
	for _, name := range []string{"deposit", "withdraw", "freeze", "unfreeze"} {
		assert.False(t, a.Creates(name), name)
	}
}

func TestOpen(t *testing.T) {
	owner200 := strings.Repeat("é", account.MaxOwnerLength)
	runDecideCases(t, []decideCase{
		{name: "opens", command: "open", data: `{"owner":"Ada Lovelace"}`, want: []any{account.AccountOpened{Owner: "Ada Lovelace"}}},
		{name: "owner of the longest length", command: "open", data: `{"owner":"` + owner200 + `"}`, want: []any{account.AccountOpened{Owner: owner200}}},
		{name: "refuses an existing account", command: "open", state: opened, exists: true, data: `{"owner":"ada"}`, err: aggregate.ErrExists, msg: "already exists"},
		{name: "refuses a missing owner", command: "open", data: `{}`, err: aggregate.ErrInvalid, msg: "owner is required"},
		{name: "refuses no data", command: "open", data: ``, err: aggregate.ErrInvalid, msg: "owner is required"},
		{name: "refuses an empty owner", command: "open", data: `{"owner":""}`, err: aggregate.ErrInvalid, msg: "owner is required"},
		{name: "refuses a blank owner", command: "open", data: `{"owner":"  \u00a0 "}`, err: aggregate.ErrInvalid, msg: "owner must not be blank"},
		{name: "refuses a long owner", command: "open", data: `{"owner":"` + owner200 + `x"}`, err: aggregate.ErrInvalid, msg: "owner must be at most 200 characters, got 201"},
		{name: "refuses a control character", command: "open", data: `{"owner":"ada\u0007"}`, err: aggregate.ErrInvalid, msg: `owner must not contain control characters, got "ada\a"`},
		{name: "refuses a newline", command: "open", data: `{"owner":"ada\nlovelace"}`, err: aggregate.ErrInvalid, msg: "control characters"},
		{name: "refuses a number", command: "open", data: `{"owner":42}`, err: aggregate.ErrInvalid, msg: `field "owner" must be a string`},
		{name: "refuses an unknown field", command: "open", data: `{"owner":"ada","name":"x"}`, err: aggregate.ErrInvalid, msg: `unknown field "name"`},
		{name: "refuses an array", command: "open", data: `["ada"]`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses a string", command: "open", data: `"ada"`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses malformed JSON", command: "open", data: `{"owner":`, err: aggregate.ErrInvalid, msg: "data:"},
	})
}

// amountCases are the malformed and out-of-range amounts every command with
// an amount refuses as invalid.
func amountCases(command string) []decideCase {
	bad := []struct{ name, data, msg string }{
		{"zero", `{"amount":0}`, "amount must be a positive integer, got 0"},
		{"negative", `{"amount":-5}`, "amount must be a positive integer, got -5"},
		{"missing", `{}`, "amount must be a positive integer, got 0"},
		{"absent data", ``, "amount must be a positive integer, got 0"},
		{"null", `{"amount":null}`, "amount must be a positive integer, got 0"},
		{"fraction", `{"amount":1.5}`, `field "amount" must be a whole number within range, got JSON number 1.5`},
		{"string", `{"amount":"100"}`, `field "amount" must be a whole number within range, got JSON string`},
		{"boolean", `{"amount":true}`, `field "amount" must be a whole number within range, got JSON bool`},
		{"exponent", `{"amount":1e30}`, `field "amount" must be a whole number within range`},
		{"beyond int64", `{"amount":9223372036854775808}`, `field "amount" must be a whole number within range`},
		{"huge", `{"amount":99999999999999999999999999999}`, `field "amount" must be a whole number within range`},
		{"unknown field", `{"amount":1,"amout":2}`, `unknown field "amout"`},
		{"array", `[100]`, "data must be a JSON object"},
		{"string data", `"100"`, "data must be a JSON object"},
		{"number data", `100`, "data must be a JSON object"},
		{"not JSON", `amount=100`, "data must be a JSON object"},
		{"malformed JSON", `{"amount":100`, "data: "},
		{"trailing content", `{"amount":1}{}`, "unexpected content after the JSON object"},
	}
	cases := make([]decideCase, len(bad))
	for i, b := range bad {
		cases[i] = decideCase{name: "refuses " + b.name, command: command, state: opened, exists: true, data: b.data, err: aggregate.ErrInvalid, msg: b.msg}
	}
	return cases
}

func TestDeposit(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "deposits", command: "deposit", state: opened, exists: true, data: `{"amount":100}`, want: []any{account.MoneyDeposited{Amount: 100}}},
		{name: "deposits up to the largest balance", command: "deposit", state: account.State{Balance: 1}, exists: true, data: fmt.Sprintf(`{"amount":%d}`, int64(math.MaxInt64-1)), want: []any{account.MoneyDeposited{Amount: math.MaxInt64 - 1}}},
		{name: "refuses a missing account", command: "deposit", data: `{"amount":100}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses a frozen account", command: "deposit", state: frozen, exists: true, data: `{"amount":1}`, err: aggregate.ErrRejected, msg: "account is frozen: deposits are refused"},
		{name: "refuses an overflow", command: "deposit", state: account.State{Balance: 2}, exists: true, data: fmt.Sprintf(`{"amount":%d}`, int64(math.MaxInt64-1)), err: aggregate.ErrRejected, msg: "would overflow the balance 2"},
	}, amountCases("deposit")...))
}

func TestWithdraw(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "withdraws", command: "withdraw", state: opened, exists: true, data: `{"amount":10}`, want: []any{account.MoneyWithdrawn{Amount: 10}}},
		{name: "withdraws the whole balance", command: "withdraw", state: opened, exists: true, data: `{"amount":30}`, want: []any{account.MoneyWithdrawn{Amount: 30}}},
		{name: "refuses a missing account", command: "withdraw", data: `{"amount":1}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses to overdraw", command: "withdraw", state: opened, exists: true, data: `{"amount":50}`, err: aggregate.ErrRejected, msg: "insufficient funds: balance 30, withdrawal 50"},
		{name: "refuses an empty account", command: "withdraw", state: account.State{Owner: "ada"}, exists: true, data: `{"amount":1}`, err: aggregate.ErrRejected, msg: "insufficient funds: balance 0, withdrawal 1"},
		{name: "refuses a frozen account", command: "withdraw", state: frozen, exists: true, data: `{"amount":1}`, err: aggregate.ErrRejected, msg: "account is frozen: withdrawals are refused"},
	}, amountCases("withdraw")...))
}

// noDataCases are the data a command without fields accepts and refuses.
func noDataCases(command string, state account.State, event any) []decideCase {
	cases := []decideCase{}
	for _, data := range []string{``, `null`, `{}`, " {\n} "} {
		cases = append(cases, decideCase{name: fmt.Sprintf("accepts data %q", data), command: command, state: state, exists: true, data: data, want: []any{event}})
	}
	for _, b := range []struct{ data, msg string }{
		{`{"reason":"x"}`, `unknown field "reason"`},
		{`[]`, "data must be a JSON object"},
		{`true`, "data must be a JSON object"},
		{`{`, "data: "},
	} {
		cases = append(cases, decideCase{name: fmt.Sprintf("refuses data %q", b.data), command: command, state: state, exists: true, data: b.data, err: aggregate.ErrInvalid, msg: b.msg})
	}
	return cases
}

func TestFreeze(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "refuses a missing account", command: "freeze", err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses a frozen account", command: "freeze", state: frozen, exists: true, err: aggregate.ErrRejected, msg: "account is already frozen"},
	}, noDataCases("freeze", opened, account.AccountFrozen{})...))
}

func TestUnfreeze(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "refuses a missing account", command: "unfreeze", err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses an account that is not frozen", command: "unfreeze", state: opened, exists: true, err: aggregate.ErrRejected, msg: "account is not frozen"},
	}, noDataCases("unfreeze", frozen, account.AccountUnfrozen{})...))
}

func TestUnknownCommand(t *testing.T) {
	_, err := account.Definition().Decide("close", opened, true, nil)
	require.ErrorIs(t, err, aggregate.ErrUnknownCommand)
	assert.Contains(t, err.Error(), `account has no command "close"`)
}

func TestEvolveReplaysEvents(t *testing.T) {
	cases := []struct {
		name   string
		events []any
		want   account.State
	}{
		{"nothing", nil, account.State{}},
		{"opened", []any{account.AccountOpened{Owner: "ada"}}, account.State{Owner: "ada"}},
		{"deposits and withdrawals", []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 100}, account.MoneyWithdrawn{Amount: 30}, account.MoneyDeposited{Amount: 5}}, account.State{Owner: "ada", Balance: 75}},
		{"frozen", []any{account.AccountOpened{Owner: "ada"}, account.AccountFrozen{}}, account.State{Owner: "ada", Frozen: true}},
		{"unfrozen", []any{account.AccountOpened{Owner: "ada"}, account.AccountFrozen{}, account.AccountUnfrozen{}}, account.State{Owner: "ada"}},
		{"unknown events are ignored", []any{account.AccountOpened{Owner: "ada"}, struct{ Foo int }{1}, nil, "MoneyDeposited"}, account.State{Owner: "ada"}},
	}
	def := account.Definition()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := def.New()
			for _, e := range c.events {
				s = def.Evolve(s, e)
			}
			assert.Equal(t, c.want, s)
		})
	}
}

func TestDecidedEventsReplayToTheExpectedState(t *testing.T) {
	def := account.Definition()
	s, exists := def.New(), false
	for _, step := range []struct{ command, data string }{
		{"open", `{"owner":"ada"}`},
		{"deposit", `{"amount":100}`},
		{"withdraw", `{"amount":30}`},
		{"freeze", ``},
		{"unfreeze", ``},
		{"deposit", `{"amount":5}`},
	} {
		dec, err := def.Decide(step.command, s, exists, json.RawMessage(step.data))
		require.NoError(t, err, step.command)
		for _, e := range dec.Events {
			s = def.Evolve(s, e)
		}
		exists = true
	}
	assert.Equal(t, account.State{Owner: "ada", Balance: 75}, s)
}

func TestEventsRoundTripThroughTheRegistry(t *testing.T) {
	reg := account.Definition().Events
	cases := []struct {
		event any
		name  string
		json  string
	}{
		{account.AccountOpened{Owner: "Ada Lovelace"}, "AccountOpened", `{"owner":"Ada Lovelace"}`},
		{account.MoneyDeposited{Amount: 7}, "MoneyDeposited", `{"amount":7}`},
		{account.MoneyWithdrawn{Amount: math.MaxInt64}, "MoneyWithdrawn", `{"amount":9223372036854775807}`},
		{account.AccountFrozen{}, "AccountFrozen", `{}`},
		{account.AccountUnfrozen{}, "AccountUnfrozen", `{}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := reg.Encode(c.event)
			require.NoError(t, err)
			assert.Equal(t, c.name, enc.Type)
			assert.Equal(t, 1, enc.Schema)
			assert.JSONEq(t, c.json, string(enc.Data))
			back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
			require.NoError(t, err)
			assert.Equal(t, c.event, back)
		})
	}
}
