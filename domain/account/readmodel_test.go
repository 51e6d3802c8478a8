package account_test

import (
	"testing"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/testkit"
)

func TestAccountsReadModelAnswersGetAndList(t *testing.T) {
	qs := account.Queries()
	get, list := qs[0], qs[1]
	testkit.Projection(t, account.Projection(), account.Events()).
		Given("account", "b", account.AccountOpened{Owner: "bo"}, account.MoneyDeposited{Amount: 100}, account.MoneyWithdrawn{Amount: 30},
			account.AccountFrozen{}).
		Given("account", "a", account.AccountOpened{Owner: "al"}).
		Given("account", "c", account.AccountOpened{Owner: "cy"}, account.MoneyDeposited{Amount: 5}).
		Then(get, `{"id":"b"}`, `{"id":"b","owner":"bo","balance":70,"frozen":true,"version":4}`).
		Then(list, `{"limit":2}`, `[{"id":"a","owner":"al","balance":0,"frozen":false,"version":1},{"id":"b","owner":"bo","balance":70,"frozen":true,"version":4}]`).
		Then(list, `{"after":"b"}`, `[{"id":"c","owner":"cy","balance":5,"frozen":false,"version":2}]`)
}
