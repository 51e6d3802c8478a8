package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound means the read model has no such entry.
var ErrNotFound = errors.New("not found")

// Account is the account read model.
type Account struct {
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
	Frozen  bool   `json:"frozen"`
	Version uint64 `json:"version"`
}

// Item is one item of an order.
type Item struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Order is the order read model.
type Order struct {
	ID      string `json:"id"`
	Items   []Item `json:"items"`
	Version uint64 `json:"version"`
}

// Product is the product read model.
type Product struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Stock   int64  `json:"stock"`
	Version uint64 `json:"version"`
}

// User is the user read model: no password hash.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// Every read script takes the projection's generation pointer as KEYS[1],
// reads the current generation, and returns {checkpoint, …} so the answer and
// the checkpoint it reflects come from one atomic read.
var (
	hashScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then return {0, {}} end
local p = ARGV[1] .. g .. ':'
return {tonumber(redis.call('GET', p .. 'checkpoint') or '0'), redis.call('HGETALL', p .. ARGV[2])}`)
	orderScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then return {0, {}, {}} end
local p = ARGV[1] .. g .. ':order:' .. ARGV[2]
local ids = redis.call('ZRANGE', p .. ':seq', 0, -1)
local qty = {}
for i, id in ipairs(ids) do qty[i] = redis.call('HGET', p .. ':items', id) or '0' end
local cp = tonumber(redis.call('GET', ARGV[1] .. g .. ':checkpoint') or '0')
return {cp, redis.call('HGETALL', p), ids, qty}`)
	listScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then return {0} end
local p = ARGV[1] .. g .. ':'
local ids
if ARGV[4] == '1' then
  ids = redis.call('ZRANGEBYSCORE', p .. ARGV[2], '-inf', '(' .. ARGV[5], 'LIMIT', 0, tonumber(ARGV[3]))
else
  ids = redis.call('ZRANGEBYLEX', p .. ARGV[2], ARGV[5], '+', 'LIMIT', 0, tonumber(ARGV[3]))
end
local out = {tonumber(redis.call('GET', p .. 'checkpoint') or '0')}
for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', p .. ARGV[6] .. id) end
return out`)
)

func genPrefix(name string) string { return KeyPrefix + name + ":g" }

// readHash reads one hash of projection name: its fields and the checkpoint.
func readHash(ctx context.Context, rdb redis.Scripter, name, key string) (map[string]string, uint64, error) {
	res, err := hashScript.Run(ctx, rdb, []string{KeysOf(name).Generation()}, genPrefix(name), key).Slice()
	if err != nil {
		return nil, 0, err
	}
	cp, _ := res[0].(int64)
	return pairs(res[1]), uint64(cp), nil
}

func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func accountOf(h map[string]string) Account {
	return Account{ID: h["id"], Owner: h["owner"], Balance: atoi(h["balance"]), Frozen: h["frozen"] == "1", Version: uint64(atoi(h["version"]))}
}

func productOf(h map[string]string) Product {
	return Product{ID: h["id"], Name: h["name"], Stock: atoi(h["stock"]), Version: uint64(atoi(h["version"]))}
}

// GetAccount reads one account and the checkpoint it reflects.
func GetAccount(ctx context.Context, rdb redis.Scripter, id string) (Account, uint64, error) {
	h, cp, err := readHash(ctx, rdb, Accounts, "account:"+id)
	if err == nil && len(h) == 0 {
		err = notFound("account", id)
	}
	if err != nil {
		return Account{}, cp, err
	}
	return accountOf(h), cp, nil
}

// GetProduct reads one product.
func GetProduct(ctx context.Context, rdb redis.Scripter, id string) (Product, uint64, error) {
	h, cp, err := readHash(ctx, rdb, Products, "product:"+id)
	if err == nil && len(h) == 0 {
		err = notFound("product", id)
	}
	if err != nil {
		return Product{}, cp, err
	}
	return productOf(h), cp, nil
}

// GetUser reads one user by username.
func GetUser(ctx context.Context, rdb redis.Scripter, username string) (User, uint64, error) {
	h, cp, err := readHash(ctx, rdb, Users, "user:"+username)
	if err == nil && len(h) == 0 {
		err = notFound("user", username)
	}
	if err != nil {
		return User{}, cp, err
	}
	return User{ID: h["id"], Username: h["username"]}, cp, nil
}

// GetOrder reads one order with its items in the order they were added.
func GetOrder(ctx context.Context, rdb redis.Scripter, id string) (Order, uint64, error) {
	res, err := orderScript.Run(ctx, rdb, []string{KeysOf(Orders).Generation()}, genPrefix(Orders), id).Slice()
	if err != nil {
		return Order{}, 0, err
	}
	cp, _ := res[0].(int64)
	h := pairs(res[1])
	if len(h) == 0 {
		return Order{}, uint64(cp), notFound("order", id)
	}
	o := Order{ID: h["id"], Version: uint64(atoi(h["version"])), Items: []Item{}}
	ids, _ := res[2].([]any)
	qty, _ := res[3].([]any)
	for i := range ids {
		item, _ := ids[i].(string)
		q, _ := qty[i].(string)
		o.Items = append(o.Items, Item{ItemID: item, Quantity: atoi(q)})
	}
	return o, uint64(cp), nil
}

// ListAccounts lists up to limit accounts by id, those after the id after
// ("" for the first page).
func ListAccounts(ctx context.Context, rdb redis.Scripter, limit int, after string) ([]Account, uint64, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	return list(ctx, rdb, Accounts, "accounts", "account:", limit, false, start, accountOf)
}

// LowStock lists up to limit products with stock < below, lowest first.
func LowStock(ctx context.Context, rdb redis.Scripter, below int64, limit int) ([]Product, uint64, error) {
	return list(ctx, rdb, Products, "stock", "product:", limit, true, strconv.FormatInt(below, 10), productOf)
}

func list[T any](ctx context.Context, rdb redis.Scripter, name, index, prefix string, limit int, byScore bool, from string, of func(map[string]string) T) ([]T, uint64, error) {
	mode := "0"
	if byScore {
		mode = "1"
	}
	res, err := listScript.Run(ctx, rdb, []string{KeysOf(name).Generation()}, genPrefix(name), index, limit, mode, from, prefix).Slice()
	if err != nil {
		return nil, 0, err
	}
	cp, _ := res[0].(int64)
	out := make([]T, 0, len(res)-1)
	for _, h := range res[1:] {
		out = append(out, of(pairs(h)))
	}
	return out, uint64(cp), nil
}

// Reached returns how far projection name is known to reflect the stream.
func Reached(ctx context.Context, rdb redis.Cmdable, name string) (uint64, error) {
	g, err := rdb.Get(ctx, KeysOf(name).Generation()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := rdb.Get(ctx, KeysOf(name).Reached(g)).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// Status returns the status hash of projection name (state, sequence,
// subject, type, error).
func Status(ctx context.Context, rdb redis.Cmdable, name string) (map[string]string, error) {
	return rdb.HGetAll(ctx, KeysOf(name).Status()).Result()
}

func notFound(what, id string) error { return fmt.Errorf("%w: %s %q", ErrNotFound, what, id) }
