package product

import (
	"cmp"
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// ProjectionName names the products read model.
const ProjectionName = "products"

// View is a product as queries answer it.
type View struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Stock   int64  `json:"stock"`
	Version uint64 `json:"version"`
}

// Projection keeps one hash per product (product:<id>) and the stock index
// (stock, a sorted set of product ids scored by stock): the read model for
// the query an event log cannot answer, "every product with fewer than N in
// stock".
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			id := ev.Ref.ID()
			key, stock := tx.Keys.Key("product", id), tx.Keys.Key("stock")
			switch e := e.(type) {
			case ProductRegistered:
				tx.HSet(ctx, key, "id", id, "name", e.Name, "stock", 0)
				tx.ZAdd(ctx, stock, redis.Z{Score: 0, Member: id})
			case StockReceived:
				tx.HIncrBy(ctx, key, "stock", e.Quantity)
				tx.ZIncrBy(ctx, stock, float64(e.Quantity), id)
			case StockRemoved:
				tx.HIncrBy(ctx, key, "stock", -e.Quantity)
				tx.ZIncrBy(ctx, stock, -float64(e.Quantity), id)
			}
			tx.HSet(ctx, key, "version", strconv.FormatUint(uint64(ev.Version), 10))
			return nil
		})}
}

// Query limits of product.low_stock.
const (
	DefaultLowStockLimit = 50
	MaxLowStockLimit     = 1000
)

// lowStockIDs reads the ids of the products with stock below ARGV[1],
// lowest first.
var lowStockIDs = projections.NewReadScript(`return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))`)

// Queries are product.get {id} and product.low_stock {below, limit}.
func Queries() []reader.Query {
	return []reader.Query{
		{Model: Type, Name: "get", Projection: ProjectionName,
			Params: []reader.Param{{Name: "id", Type: reader.String, Required: true, ID: true}},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return Get(ctx, v, p.String("id"))
			}},
		{Model: Type, Name: "low_stock", Projection: ProjectionName,
			Params: []reader.Param{
				{Name: "below", Type: reader.Integer, Required: true},
				{Name: "limit", Type: reader.Integer, Default: DefaultLowStockLimit, Min: 1, Max: MaxLowStockLimit},
			},
			Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
				return LowStock(ctx, v, p.Int("below"), int(p.Int("limit")))
			}},
	}
}

// Get reads product id from a view of the products projection.
func Get(ctx context.Context, v *projections.View, id string) (View, error) {
	v = v.For(Type, id)
	h, err := v.HGetAll(ctx, v.Keys.Key("product", id))
	if err == nil && len(h) == 0 {
		err = projections.NotFound("product", id)
	}
	if err != nil {
		return View{}, err
	}
	return viewOf(h), nil
}

// LowStock reads up to limit products with stock below below, lowest first
// (equal stock: in id order, as the index orders them): of a partitioned
// projection, the first limit of each partition's index, merged.
func LowStock(ctx context.Context, v *projections.View, below int64, limit int) ([]View, error) {
	return projections.Merge(ctx, v, limit, func(a, b View) int { return cmp.Or(cmp.Compare(a.Stock, b.Stock), strings.Compare(a.ID, b.ID)) },
		func(ctx context.Context, v *projections.View) ([]View, error) {
			return projections.List(ctx, v, lowStockIDs, []string{v.Keys.Key("stock")}, []any{below, limit},
				func(id string) string { return v.Keys.Key("product", id) }, viewOf)
		})
}

func viewOf(h map[string]string) View {
	stock, _ := strconv.ParseInt(h["stock"], 10, 64)
	version, _ := strconv.ParseUint(h["version"], 10, 64)
	return View{ID: h["id"], Name: h["name"], Stock: stock, Version: version}
}
