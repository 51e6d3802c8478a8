package projections

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/streams"
)

// Names of the sample projections.
const (
	Accounts = "accounts"
	Orders   = "orders"
	Products = "products"
	Users    = "users"
)

// Samples returns the projections of the sample domains.
func Samples() []Projection {
	return []Projection{AccountsProjection(), OrdersProjection(), ProductsProjection(), UsersProjection()}
}

// decoder decodes an event with a domain's registry.
func decoder(reg *codec.Registry) func(streams.Recorded) (any, error) {
	return func(ev streams.Recorded) (any, error) { return reg.Decode(ev.Type, ev.Schema, ev.Data) }
}

func version(ev streams.Recorded) string { return strconv.FormatUint(uint64(ev.Version), 10) }

// AccountsProjection keeps account:<id> hashes and the accounts index.
func AccountsProjection() Projection {
	decode := decoder(account.Events())
	return Projection{Name: Accounts, Subjects: []string{streams.SubjectPrefix + "." + account.Type + ".>"},
		Apply: func(tx redis.Pipeliner, prefix string, ev streams.Recorded) error {
			e, err := decode(ev)
			if err != nil {
				return err
			}
			ctx, id := context.Background(), ev.Ref.ID()
			key := prefix + "account:" + id
			switch e := e.(type) {
			case account.AccountOpened:
				tx.HSet(ctx, key, "id", id, "owner", e.Owner, "balance", 0, "frozen", 0)
				tx.ZAdd(ctx, prefix+"accounts", redis.Z{Member: id})
			case account.MoneyDeposited:
				tx.HIncrBy(ctx, key, "balance", e.Amount)
			case account.MoneyWithdrawn:
				tx.HIncrBy(ctx, key, "balance", -e.Amount)
			case account.AccountFrozen:
				tx.HSet(ctx, key, "frozen", 1)
			case account.AccountUnfrozen:
				tx.HSet(ctx, key, "frozen", 0)
			}
			tx.HSet(ctx, key, "version", version(ev))
			return nil
		}}
}

// OrdersProjection keeps order:<id> with its items in the order added.
func OrdersProjection() Projection {
	decode := decoder(order.Events())
	return Projection{Name: Orders, Subjects: []string{streams.SubjectPrefix + "." + order.Type + ".>"},
		Apply: func(tx redis.Pipeliner, prefix string, ev streams.Recorded) error {
			e, err := decode(ev)
			if err != nil {
				return err
			}
			ctx, id := context.Background(), ev.Ref.ID()
			key := prefix + "order:" + id
			switch e := e.(type) {
			case order.OrderPlaced:
				tx.HSet(ctx, key, "id", id)
			case order.OrderItemAdded:
				tx.HSet(ctx, key+":items", e.ItemID, e.Quantity)
				tx.ZAdd(ctx, key+":seq", redis.Z{Score: float64(ev.Version), Member: e.ItemID})
			case order.OrderItemRemoved:
				tx.HDel(ctx, key+":items", e.ItemID)
				tx.ZRem(ctx, key+":seq", e.ItemID)
			case order.OrderItemQuantityChanged:
				tx.HSet(ctx, key+":items", e.ItemID, e.Quantity)
			}
			tx.HSet(ctx, key, "version", version(ev))
			return nil
		}}
}

// ProductsProjection keeps product:<id> hashes and the stock index.
func ProductsProjection() Projection {
	decode := decoder(product.Events())
	return Projection{Name: Products, Subjects: []string{streams.SubjectPrefix + "." + product.Type + ".>"},
		Apply: func(tx redis.Pipeliner, prefix string, ev streams.Recorded) error {
			e, err := decode(ev)
			if err != nil {
				return err
			}
			ctx, id := context.Background(), ev.Ref.ID()
			key := prefix + "product:" + id
			switch e := e.(type) {
			case product.ProductRegistered:
				tx.HSet(ctx, key, "id", id, "name", e.Name, "stock", 0)
				tx.ZAdd(ctx, prefix+"stock", redis.Z{Score: 0, Member: id})
			case product.StockReceived:
				tx.HIncrBy(ctx, key, "stock", e.Quantity)
				tx.ZIncrBy(ctx, prefix+"stock", float64(e.Quantity), id)
			case product.StockRemoved:
				tx.HIncrBy(ctx, key, "stock", -e.Quantity)
				tx.ZIncrBy(ctx, prefix+"stock", -float64(e.Quantity), id)
			}
			tx.HSet(ctx, key, "version", version(ev))
			return nil
		}}
}

// UsersProjection keeps user:<username> -> {id, username}; the password hash
// never reaches the read side.
func UsersProjection() Projection {
	decode := decoder(user.Events())
	return Projection{Name: Users, Subjects: []string{streams.SubjectPrefix + "." + user.Type + ".>"},
		Apply: func(tx redis.Pipeliner, prefix string, ev streams.Recorded) error {
			e, err := decode(ev)
			if err != nil {
				return err
			}
			if e, ok := e.(user.UserRegistered); ok {
				tx.HSet(context.Background(), prefix+"user:"+e.Username, "id", ev.Ref.ID(), "username", e.Username)
			}
			return nil
		}}
}

// ModelProjections maps each query model to the projections behind it.
var ModelProjections = map[string][]string{
	"account": {Accounts},
	"order":   {Orders},
	"product": {Products},
	"user":    {Users},
}
