package testkit_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/testkit"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so the fixture's own failures can be checked.
type recorder struct {
	testing.TB
	failures []string
	fatal    bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}

// record runs check against a recorder on a goroutine of its own, as
// Fatalf's Goexit needs, and returns the recorder once check has returned.
func record(t *testing.T, check func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r
}

// failure returns the one failure r recorded, failing t when there is not
// exactly one.
func (r *recorder) failure(t *testing.T) string {
	t.Helper()
	if len(r.failures) != 1 {
		t.Fatalf("want exactly one failure, got %d: %q", len(r.failures), r.failures)
	}
	return r.failures[0]
}

func contains(t *testing.T, got string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("the failure message lacks %q; it is:\n%s", p, got)
		}
	}
}

var opened = []any{account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30}}

func TestAggregateFixturePassesWhatTheDefinitionDecides(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		acc := testkit.Aggregate(tb, account.Definition())
		acc.When("open", `{"owner":"ada"}`).Then(account.AccountOpened{Owner: "ada"}).ThenUnique("")
		acc.Given(opened...).When("withdraw", `{"amount":10}`).Then(account.MoneyWithdrawn{Amount: 10})
		acc.Given(opened...).When("withdraw", []byte(`{"amount":10}`)).Then(account.MoneyWithdrawn{Amount: 10})
		acc.Given(opened...).When("withdraw", json.RawMessage(`{"amount":10}`)).Then(account.MoneyWithdrawn{Amount: 10})
		acc.Given(opened...).When("withdraw", account.Withdraw{Amount: 10}).Then(account.MoneyWithdrawn{Amount: 10})
		acc.Given(opened...).When("freeze", nil).Then(account.AccountFrozen{})
		acc.Given(opened...).When("freeze", "").Then(account.AccountFrozen{})
		acc.Given(opened...).When("withdraw", `{"amount":50}`).
			ThenError(aggregate.ErrRejected).
			ThenErrorContains("insufficient funds: balance 30, withdrawal 50")
		acc.When("withdraw", `{"amount":1}`).ThenError(aggregate.ErrNotFound)
		acc.Given(opened...).When("open", `{"owner":"ada"}`).ThenError(aggregate.ErrExists)
		acc.Given(opened...).When("close", nil).ThenError(aggregate.ErrUnknownCommand)

		testkit.Aggregate(tb, user.DefinitionWithCost(bcrypt.MinCost)).
			When("register", map[string]string{"username": "Ada", "password": "correct horse"}).
			ThenUnique("ada")
	})
	if len(r.failures) > 0 {
		t.Fatalf("want no failures, got:\n%s", strings.Join(r.failures, "\n\n"))
	}
}

func TestAggregateFixtureShowsExpectedAndActualEventsInOrder(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		testkit.Aggregate(tb, account.Definition()).
			Given(opened...).
			When("withdraw", `{"amount":10}`).
			Then(account.MoneyDeposited{Amount: 10}, account.MoneyWithdrawn{Amount: 10})
	})
	contains(t, r.failure(t),
		"given account events:\n  1. AccountOpened {Owner:ada}\n  2. MoneyDeposited {Amount:30}\n",
		`when withdraw {"amount":10}`,
		"want events:\n  1. MoneyDeposited {Amount:10}\n  2. MoneyWithdrawn {Amount:10}\n",
		"got events:\n  1. MoneyWithdrawn {Amount:10}")
}

func TestAggregateFixtureReportsEachFailedCheck(t *testing.T) {
	cases := []struct {
		name  string
		check func(acc testkit.AggregateFixture[account.State])
		want  []string
	}{
		{"events wanted, error got", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("withdraw", `{"amount":50}`).Then(account.MoneyWithdrawn{Amount: 50})
		}, []string{"want events:\n  1. MoneyWithdrawn {Amount:50}", "got error: command rejected: insufficient funds"}},
		{"no events wanted, events got", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("freeze", nil).Then()
		}, []string{"when freeze (no data)", "want events:\n  (none)", "got events:\n  1. AccountFrozen {}"}},
		{"error wanted, events got", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("withdraw", `{"amount":10}`).ThenError(aggregate.ErrRejected)
		}, []string{`want an error wrapping "command rejected"`, "got events:\n  1. MoneyWithdrawn {Amount:10}"}},
		{"another error got", func(acc testkit.AggregateFixture[account.State]) {
			acc.When("withdraw", `{"amount":10}`).ThenError(aggregate.ErrRejected)
		}, []string{"given a new account", `want an error wrapping "command rejected"`, "got error: aggregate not found: account"}},
		{"message part missing", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("withdraw", `{"amount":50}`).ThenErrorContains("account is frozen")
		}, []string{`want an error containing "account is frozen"`, "got error: command rejected: insufficient funds: balance 30, withdrawal 50"}},
		{"message wanted, events got", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("withdraw", `{"amount":1}`).ThenErrorContains("insufficient funds")
		}, []string{`want an error containing "insufficient funds"`, "got events:\n  1. MoneyWithdrawn {Amount:1}"}},
		{"unique key wanted, none reserved", func(acc testkit.AggregateFixture[account.State]) {
			acc.When("open", `{"owner":"ada"}`).ThenUnique("ada")
		}, []string{`want unique key "ada" reserved`, `got ""`}},
		{"unregistered event wanted", func(acc testkit.AggregateFixture[account.State]) {
			acc.Given(opened...).When("freeze", nil).Then(&account.AccountFrozen{})
		}, []string{"1. *account.AccountFrozen (not registered) &{}", "got events:\n  1. AccountFrozen {}"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := record(t, func(tb testing.TB) { c.check(testkit.Aggregate(tb, account.Definition())) })
			if r.fatal {
				t.Error("a failed check must let the test go on (Errorf, not Fatalf)")
			}
			contains(t, r.failure(t), c.want...)
		})
	}
}

func TestAggregateFixtureRefusesAGivenEventTheStoreCouldNotHold(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		// A pointer is not the registered event type: Evolve would ignore it.
		testkit.Aggregate(tb, account.Definition()).Given(account.AccountOpened{Owner: "ada"}, &account.AccountFrozen{})
		tb.Errorf("Given went on after an unregistered event")
	})
	if !r.fatal {
		t.Fatal("want Given to stop the test")
	}
	contains(t, r.failure(t), "given event 2 (*account.AccountFrozen) cannot be stored", "not registered")
}

func TestAggregateFixtureRefusesAnInvalidDefinition(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		def := account.Definition()
		def.Evolve = nil
		testkit.Aggregate(tb, def)
	})
	if !r.fatal {
		t.Fatal("want Aggregate to stop the test")
	}
	contains(t, r.failure(t), "invalid aggregate definition", "Evolve is nil")
}

func TestAggregateFixturesSharingAHistoryKeepTheirOwn(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		// Built one event at a time, the history has room to grow in place.
		base := testkit.Aggregate(tb, account.Definition()).
			Given(account.AccountOpened{Owner: "ada"}).
			Given(account.MoneyDeposited{Amount: 10}).
			Given(account.MoneyDeposited{Amount: 20})
		frozen := base.Given(account.AccountFrozen{})
		rich := base.Given(account.MoneyDeposited{Amount: 100})
		frozen.When("deposit", `{"amount":1}`).ThenErrorContains("account is frozen")
		rich.When("withdraw", `{"amount":130}`).Then(account.MoneyWithdrawn{Amount: 130})
		base.When("withdraw", `{"amount":31}`).ThenErrorContains("insufficient funds: balance 30")
	})
	if len(r.failures) > 0 {
		t.Fatalf("want no failures, got:\n%s", strings.Join(r.failures, "\n\n"))
	}
}

func TestRunAggregateCasesRunsEachCaseAsASubtest(t *testing.T) {
	testkit.RunAggregateCases(t, account.Definition(), []testkit.AggregateCase{
		{Name: "opens", Command: "open", Data: `{"owner":"ada"}`, Then: []any{account.AccountOpened{Owner: "ada"}}},
		{Name: "withdraws", Given: opened, Command: "withdraw", Data: account.Withdraw{Amount: 30}, Then: []any{account.MoneyWithdrawn{Amount: 30}}},
		{Name: "refuses to overdraw", Given: opened, Command: "withdraw", Data: `{"amount":31}`,
			Error: aggregate.ErrRejected, ErrorContains: "insufficient funds"},
	})
}
