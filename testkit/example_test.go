package testkit_test

import (
	"fmt"
	"testing"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/testkit"
)

// printer prints what a failing check reports, so that the example can show
// a failure. A test passes its own *testing.T instead.
type printer struct{ testing.TB }

func (printer) Helper()                           {}
func (printer) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (printer) Fatalf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// Given the account's history, when a command arrives, then these events, or
// this error. Checks that hold report nothing; one that fails names the
// history, the command and the events expected against those decided.
func ExampleAggregate() {
	var t testing.TB = printer{} // in a test: func TestWithdraw(t *testing.T)

	acc := testkit.Aggregate(t, account.Definition())
	opened := acc.Given(account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30})

	opened.When("withdraw", `{"amount":10}`).Then(account.MoneyWithdrawn{Amount: 10})
	opened.When("withdraw", account.Withdraw{Amount: 50}).
		ThenError(aggregate.ErrRejected).
		ThenErrorContains("insufficient funds: balance 30, withdrawal 50")
	acc.When("deposit", `{"amount":5}`).ThenError(aggregate.ErrNotFound)

	// A wrong expectation: unfreezing decides one event, not two.
	opened.Given(account.AccountFrozen{}).
		When("unfreeze", nil).
		Then(account.AccountUnfrozen{}, account.MoneyDeposited{Amount: 1})
	// Output:
	// testkit: given account events:
	//   1. AccountOpened {Owner:ada}
	//   2. MoneyDeposited {Amount:30}
	//   3. AccountFrozen {}
	// when unfreeze (no data)
	// want events:
	//   1. AccountUnfrozen {}
	//   2. MoneyDeposited {Amount:1}
	// got events:
	//   1. AccountUnfrozen {}
}
