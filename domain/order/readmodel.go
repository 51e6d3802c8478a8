package order

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

// ProjectionName names the orders read model.
const ProjectionName = "orders"

// View is an order as queries answer it: its items (the aggregate's own
// Item, same JSON) in the order they were added.
type View struct {
	ID      string `json:"id"`
	Items   []Item `json:"items"`
	Version uint64 `json:"version"`
}

// Projection keeps, per order, a hash (order:<id>), its items' quantities
// (order:<id>:items) and their order of arrival (order:<id>:seq, a sorted
// set scored by the version that added them).
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: projections.Decoding(Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			id := ev.Ref.ID()
			key, items, seq := tx.Keys.Key("order", id), tx.Keys.Key("order", id, "items"), tx.Keys.Key("order", id, "seq")
			switch e := e.(type) {
			case OrderPlaced:
				tx.HSet(ctx, key, "id", id)
			case OrderItemAdded:
				tx.HSet(ctx, items, e.ItemID, e.Quantity)
				tx.ZAdd(ctx, seq, redis.Z{Score: float64(ev.Version), Member: e.ItemID})
			case OrderItemRemoved:
				tx.HDel(ctx, items, e.ItemID)
				tx.ZRem(ctx, seq, e.ItemID)
			case OrderItemQuantityChanged:
				tx.HSet(ctx, items, e.ItemID, e.Quantity)
			}
			tx.HSet(ctx, key, "version", strconv.FormatUint(uint64(ev.Version), 10))
			return nil
		})}
}

// readOrder reads an order's hash, its item ids in order and their
// quantities.
var readOrder = projections.NewReadScript(`
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
local qty = {}
for i, id in ipairs(ids) do qty[i] = redis.call('HGET', KEYS[3], id) or '0' end
return {redis.call('HGETALL', KEYS[1]), ids, qty}`)

// Queries are order.get {id}.
func Queries() []reader.Query {
	return []reader.Query{{Model: Type, Name: "get", Projection: ProjectionName,
		Params: []reader.Param{{Name: "id", Type: reader.String, Required: true, ID: true}},
		Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
			return Get(ctx, v, p.String("id"))
		}}}
}

// Get reads order id from a view of the orders projection.
func Get(ctx context.Context, v *projections.View, id string) (View, error) {
	v = v.For(Type, id)
	res, err := v.Run(ctx, readOrder, []string{v.Keys.Key("order", id), v.Keys.Key("order", id, "seq"), v.Keys.Key("order", id, "items")})
	if err != nil {
		return View{}, err
	}
	parts, _ := res.([]any)
	if len(parts) < 3 {
		return View{}, projections.NotFound("order", id)
	}
	h := projections.Pairs(parts[0])
	if len(h) == 0 {
		return View{}, projections.NotFound("order", id)
	}
	version, _ := strconv.ParseUint(h["version"], 10, 64)
	o := View{ID: h["id"], Version: version, Items: []Item{}}
	ids, _ := parts[1].([]any)
	qty, _ := parts[2].([]any)
	for i := range ids {
		item, _ := ids[i].(string)
		q, _ := qty[i].(string)
		n, _ := strconv.ParseInt(q, 10, 64)
		o.Items = append(o.Items, Item{ItemID: item, Quantity: n})
	}
	return o, nil
}
