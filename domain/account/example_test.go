package account_test

import (
	"encoding/json"
	"fmt"

	"github.com/jetsource/jetsource/domain/account"
)

// Deciding commands and evolving the state with their events, as the writer
// does for each command it receives.
func ExampleDefinition() {
	def := account.Definition()
	state, exists := def.New(), false
	for _, cmd := range []struct{ name, data string }{
		{"open", `{"owner":"ada"}`},
		{"deposit", `{"amount":100}`},
	} {
		decision, err := def.Decide(cmd.name, state, exists, json.RawMessage(cmd.data))
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, event := range decision.Events {
			fmt.Printf("%s %+v\n", def.Events.Name(event), event)
			state = def.Evolve(state, event)
		}
		exists = true
	}
	fmt.Println(state)

	_, err := def.Decide("withdraw", state, exists, json.RawMessage(`{"amount":500}`))
	fmt.Println(err)
	// Output:
	// AccountOpened {Owner:ada}
	// MoneyDeposited {Amount:100}
	// owner=ada balance=100 frozen=false
	// command rejected: insufficient funds: balance 100, withdrawal 500
}
