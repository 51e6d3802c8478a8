package account

import "github.com/jetsource/jetsource/domain/internal/field"

// MaxOwnerLength is the longest owner name accepted, in characters.
const MaxOwnerLength = 200

// Open is the data of the open command.
type Open struct {
	Owner string `json:"owner"`
}

// Validate checks the owner's name.
func (c Open) Validate() error { return field.Name("owner", c.Owner, MaxOwnerLength) }

// Deposit is the data of the deposit command.
type Deposit struct {
	Amount int64 `json:"amount"`
}

// Validate checks that the amount is positive.
func (c Deposit) Validate() error { return field.Positive("amount", c.Amount) }

// Withdraw is the data of the withdraw command.
type Withdraw struct {
	Amount int64 `json:"amount"`
}

// Validate checks that the amount is positive.
func (c Withdraw) Validate() error { return field.Positive("amount", c.Amount) }

// Freeze is the data of the freeze command: none.
type Freeze struct{}

// Unfreeze is the data of the unfreeze command: none.
type Unfreeze struct{}
