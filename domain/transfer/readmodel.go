package transfer

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// ProjectionName names the transfers read model.
const ProjectionName = "transfers"

// View is a transfer as queries answer it.
type View struct {
	ID       string `json:"id"`
	From     string `json:"from"`
	To       string `json:"to"`
	Amount   int64  `json:"amount"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	Refunded bool   `json:"refunded"`
	Version  uint64 `json:"version"`
}

// AccountTransfers is an account's transfers as account.transfers answers.
type AccountTransfers struct {
	ID        string   `json:"id"`
	Transfers []string `json:"transfers"`
	Count     int64    `json:"count"`
}

// flags are the hash fields of the steps, as Evolve sets them.
var flags = map[string]string{
	"WithdrawalStarted": "withdrawal_started", "TransferDebited": "debited", "TransferFailed": "failed",
	"DepositStarted": "deposit_started", "TransferCompleted": "completed", "TransferRefunded": "refunded",
	"TransferRefundRefused": "refund_refused", "TransferExpired": "expired",
}

// Projection keeps one hash per transfer (transfer:<id>: its accounts,
// amount, the flags of its steps and its reason) and, per account, the sorted
// set of the transfers it takes part in (account_transfers:<account>, read
// in id order).
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			id := ev.Ref.ID()
			key := tx.Keys.Key("transfer", id)
			switch e := e.(type) {
			case TransferRequested:
				tx.HSet(ctx, key, "id", id, "from", e.From, "to", e.To, "amount", e.Amount)
				tx.ZAdd(ctx, tx.Keys.Key("account_transfers", e.From), redis.Z{Member: id})
				tx.ZAdd(ctx, tx.Keys.Key("account_transfers", e.To), redis.Z{Member: id})
			case TransferFailed:
				tx.HSet(ctx, key, "reason", e.Reason)
			case TransferRefunded:
				tx.HSet(ctx, key, "reason", e.Reason)
			case TransferRefundRefused:
				tx.HSet(ctx, key, "reason", e.Reason)
			}
			if f, ok := flags[ev.Type]; ok {
				tx.HSet(ctx, key, f, 1)
			}
			tx.HSet(ctx, key, "version", strconv.FormatUint(uint64(ev.Version), 10))
			return nil
		})}
}

// Query limits of account.transfers.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

var accountTransfers = projections.NewReadScript(`return {redis.call('ZCARD', KEYS[1]), redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))}`)

// Queries are transfer.get {id} and account.transfers {id, limit, after}.
func Queries() []reader.Query {
	return []reader.Query{
		{Model: Type, Name: "get", Projection: ProjectionName,
			Params: []reader.Param{{Name: "id", Type: reader.String, Required: true, ID: true}},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return Get(ctx, v, p.String("id"))
			}},
		{Model: "account", Name: "transfers", Projection: ProjectionName,
			Params: []reader.Param{
				{Name: "id", Type: reader.String, Required: true, ID: true},
				{Name: "limit", Type: reader.Integer, Default: DefaultListLimit, Min: 1, Max: MaxListLimit},
				{Name: "after", Type: reader.String, ID: true},
			},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return Of(ctx, v, p.String("id"), int(p.Int("limit")), p.String("after"))
			}},
	}
}

// Get reads transfer id from a view of the transfers projection.
func Get(ctx context.Context, v *projections.View, id string) (View, error) {
	h, err := v.HGetAll(ctx, v.Keys.Key("transfer", id))
	if err == nil && len(h) == 0 {
		err = projections.NotFound("transfer", id)
	}
	if err != nil {
		return View{}, err
	}
	return viewOf(h), nil
}

// Of reads the transfers account takes part in (from or to), up to limit in
// id order after the id after, and their count. An account with none
// answers an empty list: the transfers projection does not know accounts.
func Of(ctx context.Context, v *projections.View, account string, limit int, after string) (AccountTransfers, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	res, err := v.Run(ctx, accountTransfers, []string{v.Keys.Key("account_transfers", account)}, start, limit)
	if err != nil {
		return AccountTransfers{}, err
	}
	out := AccountTransfers{ID: account, Transfers: []string{}}
	if pair, ok := res.([]any); ok && len(pair) == 2 {
		out.Count, _ = pair[0].(int64)
		out.Transfers = projections.Strings(pair[1])
	}
	return out, nil
}

func viewOf(h map[string]string) View {
	amount, _ := strconv.ParseInt(h["amount"], 10, 64)
	version, _ := strconv.ParseUint(h["version"], 10, 64)
	s := State{From: h["from"], To: h["to"], Amount: amount,
		WithdrawalStarted: h["withdrawal_started"] == "1", Debited: h["debited"] == "1", DepositStarted: h["deposit_started"] == "1",
		Completed: h["completed"] == "1", Refunded: h["refunded"] == "1", Failed: h["failed"] == "1",
		Expired: h["expired"] == "1", RefundRefused: h["refund_refused"] == "1", Reason: h["reason"]}
	if s.Expired && !s.WithdrawalStarted && s.Reason == "" {
		s.Reason = ExpiredReason
	}
	return View{ID: h["id"], From: s.From, To: s.To, Amount: s.Amount, Status: s.Status(), Reason: s.Reason,
		Refunded: s.Refunded, Version: version}
}
