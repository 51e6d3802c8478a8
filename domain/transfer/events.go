package transfer

import "github.com/jetsource/jetsource/codec"

// TransferRequested records a request to move amount from one account to
// another.
type TransferRequested struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

// WithdrawalStarted records that the process manager will withdraw from the
// source: from now on a timeout no longer stops the withdrawal.
type WithdrawalStarted struct{}

// TransferDebited records that the amount was withdrawn from the source.
type TransferDebited struct{}

// TransferFailed records that the withdrawal was refused: no money moved.
type TransferFailed struct {
	Reason string `json:"reason"`
}

// DepositStarted records that the process manager will deposit to the
// target: from now on a timeout no longer compensates.
type DepositStarted struct{}

// TransferCompleted records that the amount was deposited to the target.
type TransferCompleted struct{}

// TransferRefunded records that the amount was given back to the source.
type TransferRefunded struct {
	Reason string `json:"reason"`
}

// TransferRefundRefused records that the source refused its refund: the
// money is held by the transfer until a person acts.
type TransferRefundRefused struct {
	Reason string `json:"reason"`
}

// TransferExpired records that the transfer's timeout fired before its
// deposit started.
type TransferExpired struct{}

// Events returns a new registry of the transfer's event types, each at
// schema version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[TransferRequested](r, "TransferRequested")
	codec.Register[WithdrawalStarted](r, "WithdrawalStarted")
	codec.Register[TransferDebited](r, "TransferDebited")
	codec.Register[TransferFailed](r, "TransferFailed")
	codec.Register[DepositStarted](r, "DepositStarted")
	codec.Register[TransferCompleted](r, "TransferCompleted")
	codec.Register[TransferRefunded](r, "TransferRefunded")
	codec.Register[TransferRefundRefused](r, "TransferRefundRefused")
	codec.Register[TransferExpired](r, "TransferExpired")
	return r
}
