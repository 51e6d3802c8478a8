package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// ErrGenerationSwitched means a rebuild switched the projection to a new
// generation between two reads of one View: the reads are of different
// generations, so the query runs again on a fresh View.
var ErrGenerationSwitched = errors.New("the projection switched generation during the read")

// ReadScript is a Lua script that reads a projection's keys. Its body sees
// its own KEYS and ARGV, as passed to View.Run, and returns what the read
// returns; the script around it checks, in the same atomic step, that the
// generation is the View's and reads the checkpoint. Every key the body
// touches must be in its KEYS (made with the View's Keys): nothing is built
// from ARGV, so the script works on a Redis Cluster once a projection's
// keys share a slot.
type ReadScript struct{ script *redis.Script }

// NewReadScript returns the read script of body.
func NewReadScript(body string) *ReadScript {
	return &ReadScript{script: redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local cp = tonumber(redis.call('GET', KEYS[2]) or '0')
local KEYS = {unpack(KEYS, 3)}
local ARGV = {unpack(ARGV, 2)}
local function read()
` + body + `
end
return {1, cp, read()}`)}
}

// hashRead reads one hash.
var hashRead = NewReadScript(`return redis.call('HGETALL', KEYS[1])`)

// Views hands out Views of projections for queries, keeping the current
// generation of each projection so that a read is one round trip: a read
// of a generation that was switched meanwhile fails with
// ErrGenerationSwitched and the next View asks Redis again. Handing out a
// View of a known generation takes no lock and builds no key.
type Views struct {
	rdb  redis.Cmdable
	gens sync.Map // projection name (of a partition: <name>/<p>) -> *generation
	// partitions caches the partition count of projections known to have
	// one (it never changes in place: the runner refuses another).
	partitions sync.Map // projection name -> int
}

// generation is one generation of a projection, with what its reads pass
// to the read script made once.
type generation struct {
	n int64
	// genKey and checkpointKey are the first two KEYS of a read, arg its
	// first ARGV (the generation, as the generation key holds it).
	genKey, checkpointKey string
	arg                   any
	keys                  KeySpace
}

func newGeneration(k Keys, n int64) *generation {
	return &generation{n: n, genKey: k.Generation(), checkpointKey: k.Checkpoint(n),
		arg: strconv.FormatInt(n, 10), keys: k.Space(n)}
}

// NewViews returns the views of the projections in rdb.
func NewViews(rdb redis.Cmdable) *Views { return &Views{rdb: rdb} }

// View returns a view of the current generation of projection name; of a
// partitioned projection, a view of the current generation of each of its
// partitions (View.For, View.Part).
func (vs *Views) View(ctx context.Context, name string) (*View, error) {
	if g, ok := vs.gens.Load(name); ok {
		gen := g.(*generation)
		return &View{views: vs, name: name, gen: gen, Keys: gen.keys}, nil
	}
	if n, ok := vs.partitions.Load(name); ok {
		return vs.partitioned(ctx, name, n.(int))
	}
	keys := KeysOf(name)
	var genCmd, partsCmd *redis.StringCmd
	_, err := vs.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		genCmd, partsCmd = p.Get(ctx, keys.Generation()), p.Get(ctx, keys.PartitionsKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if parts, err := partsCmd.Int(); err == nil && parts > 1 {
		vs.partitions.Store(name, parts)
		return vs.partitioned(ctx, name, parts)
	}
	n, err := genCmd.Int64()
	switch {
	case errors.Is(err, redis.Nil):
		n = 0 // nothing projected yet: an empty view
	case err != nil:
		return nil, err
	}
	gen := newGeneration(keys, n)
	if n > 0 {
		vs.gens.Store(name, gen)
	}
	return &View{views: vs, name: name, gen: gen, Keys: gen.keys}, nil
}

// partitioned returns the view of the n partitions of projection name,
// reading the generations it does not know in one pipeline.
func (vs *Views) partitioned(ctx context.Context, name string, n int) (*View, error) {
	v := &View{views: vs, name: name, gen: &generation{}, parts: make([]*View, n)}
	cmds := make([]*redis.StringCmd, n)
	missing := false
	for p := range n {
		label := partitionLabel(name, p, n)
		if g, ok := vs.gens.Load(label); ok {
			gen := g.(*generation)
			v.parts[p] = &View{views: vs, name: label, gen: gen, Keys: gen.keys}
			continue
		}
		missing = true
	}
	if missing {
		_, err := vs.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for p := range n {
				if v.parts[p] == nil {
					cmds[p] = pipe.Get(ctx, PartitionKeys(name, p, n).Generation())
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	for p, cmd := range cmds {
		if cmd == nil {
			continue
		}
		g, err := cmd.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		label := partitionLabel(name, p, n)
		gen := newGeneration(PartitionKeys(name, p, n), g) // g 0: nothing projected yet
		if g > 0 {
			vs.gens.Store(label, gen)
		}
		v.parts[p] = &View{views: vs, name: label, gen: gen, Keys: gen.keys}
	}
	return v, nil
}

// forget drops gen, found switched, unless a newer one replaced it.
func (vs *Views) forget(name string, gen *generation) { vs.gens.CompareAndDelete(name, gen) }

// View reads one generation of one projection: every read runs atomically
// with a check of the generation and a read of the checkpoint, so an answer
// never mixes generations (no torn read during a blue/green switch), and
// Checkpoint says which stream sequence the answer reflects.
type View struct {
	views *Views
	name  string
	gen   *generation
	// Keys names the keys of the generation read (of a partitioned
	// projection's View, none: read a partition's, View.For or View.Part).
	Keys       KeySpace
	checkpoint uint64
	read       bool
	// parts are the views of the partitions of a partitioned projection
	// (nil for one partition).
	parts []*View
}

// Checkpoint is the checkpoint of the first read: the answer reflects the
// stream at least up to it. Of a partitioned projection, the lowest
// checkpoint of the partitions read: each partition's checkpoint moves
// with every event of the projection's subjects, so each answer reflects
// the stream at least up to it.
func (v *View) Checkpoint() uint64 {
	if v.parts == nil {
		return v.checkpoint
	}
	var low uint64
	read := false
	for _, p := range v.parts {
		if p.read && (!read || p.checkpoint < low) {
			low, read = p.checkpoint, true
		}
	}
	return low
}

// Partitions is the number of partitions of the projection read (1 when it
// is not partitioned).
func (v *View) Partitions() int { return max(len(v.parts), 1) }

// Part returns the view of partition p (of a projection of one partition,
// v itself).
func (v *View) Part(p int) *View {
	if v.parts == nil {
		return v
	}
	return v.parts[p]
}

// For returns the view of the partition that keeps aggregate typ/id (of a
// projection of one partition, v itself): a read of one aggregate reads
// one partition.
func (v *View) For(typ, id string) *View {
	if v.parts == nil {
		return v
	}
	return v.parts[partitionOfKey(typ, id, len(v.parts))]
}

// ErrPartitioned means a read ran on the View of a partitioned projection as
// a whole, not on the view of one partition.
var ErrPartitioned = errors.New("the projection is partitioned: read a partition's view (View.For, View.Part)")

// Run runs s with keys (made with v.Keys) and args, and returns what its
// body returned (nil for an empty view: nothing projected yet). It is one
// EVALSHA (EVAL once, when Redis does not have the script yet).
func (v *View) Run(ctx context.Context, s *ReadScript, keys []string, args ...any) (any, error) {
	if v.parts != nil {
		return nil, fmt.Errorf("read %s: %w", v.name, ErrPartitioned)
	}
	if v.gen.n == 0 {
		return nil, nil
	}
	all := append(make([]string, 0, 2+len(keys)), v.gen.genKey, v.gen.checkpointKey)
	all = append(all, keys...)
	argv := append(make([]any, 0, 1+len(args)), v.gen.arg)
	res, err := s.script.Run(ctx, v.views.rdb, all, append(argv, args...)...).Slice()
	if err != nil {
		return nil, err
	}
	if ok, _ := res[0].(int64); ok != 1 || len(res) < 2 {
		v.views.forget(v.name, v.gen)
		return nil, fmt.Errorf("read %s: %w", v.name, ErrGenerationSwitched)
	}
	if !v.read {
		cp, _ := res[1].(int64)
		v.checkpoint, v.read = uint64(cp), true
	}
	if len(res) < 3 {
		return nil, nil
	}
	return res[2], nil
}

// HGetAll reads the hash key (made with v.Keys); empty when it is absent.
func (v *View) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	res, err := v.Run(ctx, hashRead, []string{key})
	if err != nil {
		return nil, err
	}
	return Pairs(res), nil
}

// hashesRead reads every hash of KEYS.
var hashesRead = NewReadScript(`local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end
return out`)

// HGetAllMany reads the hashes keys (made with v.Keys) in one atomic read,
// in order; an absent one is an empty map.
func (v *View) HGetAllMany(ctx context.Context, keys []string) ([]map[string]string, error) {
	out := make([]map[string]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	res, err := v.Run(ctx, hashesRead, keys)
	if err != nil {
		return nil, err
	}
	list, _ := res.([]any)
	for i := range out {
		if i < len(list) {
			out[i] = Pairs(list[i])
		} else {
			out[i] = map[string]string{}
		}
	}
	return out, nil
}

// Pairs turns a Redis reply of alternating fields and values (HGETALL) into
// a map.
func Pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// Read runs read on a view of the current generation of projection name,
// again when a rebuild switched the generation during it, and returns its
// answer with the checkpoint the answer reflects: the typed way for Go code
// that holds a Redis client to read a model as queries do.
func Read[T any](ctx context.Context, rdb redis.Cmdable, name string, read func(context.Context, *View) (T, error)) (T, uint64, error) {
	views := NewViews(rdb)
	for attempt := 1; ; attempt++ {
		v, err := views.View(ctx, name)
		if err != nil {
			var zero T
			return zero, 0, err
		}
		out, err := read(ctx, v)
		if errors.Is(err, ErrGenerationSwitched) && attempt < readAttempts {
			continue
		}
		return out, v.Checkpoint(), err
	}
}

// readAttempts bounds how often a read runs again after a rebuild switched
// the generation under it.
const readAttempts = 3

// Hashes reads the hash of each id (its key made by key) in one atomic
// read, in order, and returns those that exist: the second step of a list
// query, after a read of an index gave the ids (Strings).
func (v *View) Hashes(ctx context.Context, ids []string, key func(id string) string) ([]map[string]string, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	all, err := v.HGetAllMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, h := range all {
		if len(h) > 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// Strings turns a Redis reply that is a list of strings (ZRANGE and the
// like) into a slice.
func Strings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// List reads an index with script (over indexKeys, with args), which
// returns ids, then the hash of each id (at key(id)) in one more atomic
// read, and turns each existing one into a T: a list query in two reads of
// the same generation.
func List[T any](ctx context.Context, v *View, script *ReadScript, indexKeys []string, args []any,
	key func(id string) string, of func(map[string]string) T) ([]T, error) {
	res, err := v.Run(ctx, script, indexKeys, args...)
	if err != nil {
		return nil, err
	}
	hashes, err := v.Hashes(ctx, Strings(res), key)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(hashes))
	for i, h := range hashes {
		out[i] = of(h)
	}
	return out, nil
}

// Merge answers a list query across the partitions of v: it runs list on
// the view of each partition (all at once), each returning its own first
// limit entries in the query's order, and keeps the first limit of them
// all in that order (compare). The first limit of the whole are among the
// first limit of each partition, so the answer is the one a projection of
// one partition gives. Of a projection of one partition, it is list(v).
func Merge[T any](ctx context.Context, v *View, limit int, compare func(a, b T) int,
	list func(ctx context.Context, part *View) ([]T, error)) ([]T, error) {
	if v.parts == nil {
		return list(ctx, v)
	}
	answers := make([][]T, len(v.parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, part := range v.parts {
		g.Go(func() (err error) {
			answers[i], err = list(gctx, part)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []T
	for _, a := range answers {
		out = append(out, a...)
	}
	slices.SortStableFunc(out, compare)
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
