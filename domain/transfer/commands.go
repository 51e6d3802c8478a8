package transfer

import (
	"errors"

	"github.com/jetsource/jetsource/domain/internal/field"
)

// MaxReasonLength is the longest reason kept, in characters.
const MaxReasonLength = 500

// Request is the data of the request command.
type Request struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

// Validate checks the accounts and the amount.
func (c Request) Validate() error {
	if err := field.ID("from", c.From); err != nil {
		return err
	}
	if err := field.ID("to", c.To); err != nil {
		return err
	}
	if c.From == c.To {
		return errors.New("from and to are the same account: a transfer moves money between two accounts")
	}
	return field.Positive("amount", c.Amount)
}

// StartWithdrawal, RecordDebit, StartDeposit, Complete and Expire have no
// data.
type (
	StartWithdrawal struct{}
	RecordDebit     struct{}
	StartDeposit    struct{}
	Complete        struct{}
	Expire          struct{}
)

// Fail, Refund and RefundRefused carry the reason.
type (
	Fail struct {
		Reason string `json:"reason"`
	}
	Refund struct {
		Reason string `json:"reason"`
	}
	RefundRefused struct {
		Reason string `json:"reason"`
	}
)

// Validate checks the reason.
func (c Fail) Validate() error { return field.Name("reason", c.Reason, MaxReasonLength) }

// Validate checks the reason.
func (c Refund) Validate() error { return field.Name("reason", c.Reason, MaxReasonLength) }

// Validate checks the reason.
func (c RefundRefused) Validate() error { return field.Name("reason", c.Reason, MaxReasonLength) }
