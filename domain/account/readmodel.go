package account

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// ProjectionName names the accounts read model.
const ProjectionName = "accounts"

// View is an account as queries answer it.
type View struct {
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
	Frozen  bool   `json:"frozen"`
	Version uint64 `json:"version"`
}

// Projection keeps one hash per account (account:<id>) and the index of
// account ids (accounts, a sorted set read in id order). Every write is
// blind: the fast path.
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			id := ev.Ref.ID()
			key := tx.Keys.Key("account", id)
			switch e := e.(type) {
			case AccountOpened:
				tx.HSet(ctx, key, "id", id, "owner", e.Owner, "balance", 0, "frozen", 0)
				tx.ZAdd(ctx, tx.Keys.Key("accounts"), redis.Z{Member: id})
			case MoneyDeposited:
				tx.HIncrBy(ctx, key, "balance", e.Amount)
			case MoneyWithdrawn:
				tx.HIncrBy(ctx, key, "balance", -e.Amount)
			case AccountFrozen:
				tx.HSet(ctx, key, "frozen", 1)
			case AccountUnfrozen:
				tx.HSet(ctx, key, "frozen", 0)
			}
			tx.HSet(ctx, key, "version", strconv.FormatUint(uint64(ev.Version), 10))
			return nil
		})}
}

// Query limits of account.list.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// listIDs reads one page of the account index, in id order after a start.
var listIDs = projections.NewReadScript(`return redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))`)

// Queries are account.get {id} and account.list {limit, after}.
func Queries() []reader.Query {
	return []reader.Query{
		{Model: Type, Name: "get", Projection: ProjectionName,
			Params: []reader.Param{{Name: "id", Type: reader.String, Required: true, ID: true}},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return Get(ctx, v, p.String("id"))
			}},
		{Model: Type, Name: "list", Projection: ProjectionName,
			Params: []reader.Param{
				{Name: "limit", Type: reader.Integer, Default: DefaultListLimit, Min: 1, Max: MaxListLimit},
				{Name: "after", Type: reader.String, ID: true},
			},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return List(ctx, v, int(p.Int("limit")), p.String("after"))
			}},
	}
}

// Get reads account id from a view of the accounts projection.
func Get(ctx context.Context, v *projections.View, id string) (View, error) {
	v = v.For(Type, id)
	h, err := v.HGetAll(ctx, v.Keys.Key("account", id))
	if err == nil && len(h) == 0 {
		err = projections.NotFound("account", id)
	}
	if err != nil {
		return View{}, err
	}
	return viewOf(h), nil
}

// List reads up to limit accounts in id order, those after the id after
// ("" for the first page): of a partitioned projection, the first limit of
// each partition's index, merged.
func List(ctx context.Context, v *projections.View, limit int, after string) ([]View, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	return projections.Merge(ctx, v, limit, func(a, b View) int { return strings.Compare(a.ID, b.ID) },
		func(ctx context.Context, v *projections.View) ([]View, error) {
			return projections.List(ctx, v, listIDs, []string{v.Keys.Key("accounts")}, []any{start, limit},
				func(id string) string { return v.Keys.Key("account", id) }, viewOf)
		})
}

func viewOf(h map[string]string) View {
	balance, _ := strconv.ParseInt(h["balance"], 10, 64)
	version, _ := strconv.ParseUint(h["version"], 10, 64)
	return View{ID: h["id"], Owner: h["owner"], Balance: balance, Frozen: h["frozen"] == "1", Version: version}
}
