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
	"github.com/jetsource/jetsource/testkit"
)

var (
	opened = []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30}}
	frozen = []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30}, account.AccountFrozen{}}
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
	testkit.RunAggregateCases(t, account.Definition(), []testkit.AggregateCase{
		{Name: "opens", Command: "open", Data: `{"owner":"Ada Lovelace"}`, Then: []any{account.AccountOpened{Owner: "Ada Lovelace"}}},
		{Name: "owner of the longest length", Command: "open", Data: `{"owner":"` + owner200 + `"}`, Then: []any{account.AccountOpened{Owner: owner200}}},
		{Name: "refuses an existing account", Command: "open", Given: opened, Data: `{"owner":"ada"}`, Error: aggregate.ErrExists, ErrorContains: "already exists"},
		{Name: "refuses a missing owner", Command: "open", Data: `{}`, Error: aggregate.ErrInvalid, ErrorContains: "owner is required"},
		{Name: "refuses no data", Command: "open", Data: ``, Error: aggregate.ErrInvalid, ErrorContains: "owner is required"},
		{Name: "refuses an empty owner", Command: "open", Data: `{"owner":""}`, Error: aggregate.ErrInvalid, ErrorContains: "owner is required"},
		{Name: "refuses a blank owner", Command: "open", Data: `{"owner":"  \u00a0 "}`, Error: aggregate.ErrInvalid, ErrorContains: "owner must not be blank"},
		{Name: "refuses a long owner", Command: "open", Data: `{"owner":"` + owner200 + `x"}`, Error: aggregate.ErrInvalid, ErrorContains: "owner must be at most 200 characters, got 201"},
		{Name: "refuses a control character", Command: "open", Data: `{"owner":"ada\u0007"}`, Error: aggregate.ErrInvalid, ErrorContains: `owner must not contain control characters, got "ada\a"`},
		{Name: "refuses a newline", Command: "open", Data: `{"owner":"ada\nlovelace"}`, Error: aggregate.ErrInvalid, ErrorContains: "control characters"},
		{Name: "refuses a number", Command: "open", Data: `{"owner":42}`, Error: aggregate.ErrInvalid, ErrorContains: `field "owner" must be a string`},
		{Name: "refuses an unknown field", Command: "open", Data: `{"owner":"ada","name":"x"}`, Error: aggregate.ErrInvalid, ErrorContains: `unknown field "name"`},
		{Name: "refuses an array", Command: "open", Data: `["ada"]`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses a string", Command: "open", Data: `"ada"`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses malformed JSON", Command: "open", Data: `{"owner":`, Error: aggregate.ErrInvalid, ErrorContains: "data:"},
	})
}

// amountCases are the malformed and out-of-range amounts every command with
// an amount refuses as invalid.
func amountCases(command string) []testkit.AggregateCase {
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
	cases := make([]testkit.AggregateCase, len(bad))
	for i, b := range bad {
		cases[i] = testkit.AggregateCase{Name: "refuses " + b.name, Command: command, Given: opened, Data: b.data, Error: aggregate.ErrInvalid, ErrorContains: b.msg}
	}
	return cases
}

func TestDeposit(t *testing.T) {
	testkit.RunAggregateCases(t, account.Definition(), append([]testkit.AggregateCase{
		{Name: "deposits", Command: "deposit", Given: opened, Data: `{"amount":100}`, Then: []any{account.MoneyDeposited{Amount: 100}}},
		{Name: "deposits up to the largest balance", Command: "deposit", Given: []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 1}}, Data: fmt.Sprintf(`{"amount":%d}`, int64(math.MaxInt64-1)), Then: []any{account.MoneyDeposited{Amount: math.MaxInt64 - 1}}},
		{Name: "refuses a missing account", Command: "deposit", Data: `{"amount":100}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses a frozen account", Command: "deposit", Given: frozen, Data: `{"amount":1}`, Error: aggregate.ErrRejected, ErrorContains: "account is frozen: deposits are refused"},
		{Name: "refuses an overflow", Command: "deposit", Given: []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 2}}, Data: fmt.Sprintf(`{"amount":%d}`, int64(math.MaxInt64-1)), Error: aggregate.ErrRejected, ErrorContains: "would overflow the balance 2"},
	}, amountCases("deposit")...))
}

func TestWithdraw(t *testing.T) {
	testkit.RunAggregateCases(t, account.Definition(), append([]testkit.AggregateCase{
		{Name: "withdraws", Command: "withdraw", Given: opened, Data: `{"amount":10}`, Then: []any{account.MoneyWithdrawn{Amount: 10}}},
		{Name: "withdraws the whole balance", Command: "withdraw", Given: opened, Data: `{"amount":30}`, Then: []any{account.MoneyWithdrawn{Amount: 30}}},
		{Name: "refuses a missing account", Command: "withdraw", Data: `{"amount":1}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses to overdraw", Command: "withdraw", Given: opened, Data: `{"amount":50}`, Error: aggregate.ErrRejected, ErrorContains: "insufficient funds: balance 30, withdrawal 50"},
		{Name: "refuses an empty account", Command: "withdraw", Given: []any{account.AccountOpened{Owner: "ada"}}, Data: `{"amount":1}`, Error: aggregate.ErrRejected, ErrorContains: "insufficient funds: balance 0, withdrawal 1"},
		{Name: "refuses a frozen account", Command: "withdraw", Given: frozen, Data: `{"amount":1}`, Error: aggregate.ErrRejected, ErrorContains: "account is frozen: withdrawals are refused"},
	}, amountCases("withdraw")...))
}

// noDataCases are the data a command without fields accepts and refuses.
func noDataCases(command string, given []any, event any) []testkit.AggregateCase {
	cases := []testkit.AggregateCase{}
	for _, data := range []string{``, `null`, `{}`, " {\n} "} {
		cases = append(cases, testkit.AggregateCase{Name: fmt.Sprintf("accepts data %q", data), Command: command, Given: given, Data: data, Then: []any{event}})
	}
	for _, b := range []struct{ data, msg string }{
		{`{"reason":"x"}`, `unknown field "reason"`},
		{`[]`, "data must be a JSON object"},
		{`true`, "data must be a JSON object"},
		{`{`, "data: "},
	} {
		cases = append(cases, testkit.AggregateCase{Name: fmt.Sprintf("refuses data %q", b.data), Command: command, Given: given, Data: b.data, Error: aggregate.ErrInvalid, ErrorContains: b.msg})
	}
	return cases
}

func TestFreeze(t *testing.T) {
	testkit.RunAggregateCases(t, account.Definition(), append([]testkit.AggregateCase{
		{Name: "refuses a missing account", Command: "freeze", Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses a frozen account", Command: "freeze", Given: frozen, Error: aggregate.ErrRejected, ErrorContains: "account is already frozen"},
	}, noDataCases("freeze", opened, account.AccountFrozen{})...))
}

func TestUnfreeze(t *testing.T) {
	testkit.RunAggregateCases(t, account.Definition(), append([]testkit.AggregateCase{
		{Name: "refuses a missing account", Command: "unfreeze", Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses an account that is not frozen", Command: "unfreeze", Given: opened, Error: aggregate.ErrRejected, ErrorContains: "account is not frozen"},
	}, noDataCases("unfreeze", frozen, account.AccountUnfrozen{})...))
}

func TestUnknownCommand(t *testing.T) {
	testkit.Aggregate(t, account.Definition()).Given(opened...).When("close", nil).
		ThenError(aggregate.ErrUnknownCommand).
		ThenErrorContains(`account has no command "close"`)
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
