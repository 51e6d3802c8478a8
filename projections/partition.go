package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/streams"
)

// part is one partition of a projection as the runner runs it: its own
// consumer, keys, lease, checkpoint, generation and status. A projection of
// one partition is one part, index 0 of 1, with the keys and consumer it
// always had.
type part struct {
	Projection
	index, of int
	keys      Keys
}

// partsOf returns the partitions of p.
func partsOf(p Projection) []part {
	n := max(p.Partitions, 1)
	out := make([]part, n)
	for i := range out {
		out[i] = part{Projection: p, index: i, of: n, keys: PartitionKeys(p.Name, i, n)}
	}
	return out
}

// label names the partition in logs and metrics: the projection's name, or
// <name>/<p> for partition p of several.
func (p part) label() string { return partitionLabel(p.Name, p.index, p.of) }

func partitionLabel(name string, p, n int) string {
	if n <= 1 {
		return name
	}
	return name + "/" + strconv.Itoa(p)
}

// owns reports whether the events of aggregate ref are the partition's;
// nil for a projection of one partition (all are).
func (p part) owns() func(streams.Ref) bool {
	if p.of <= 1 {
		return nil
	}
	return func(ref streams.Ref) bool { return PartitionOf(ref, p.of) == p.index }
}

// consumer names the partition's consumer of one kind.
func (p part) consumer(deployment, kind string) string {
	return PartitionConsumerName(deployment, kind, p.Name, p.index, p.of)
}

// PartitionConsumerName is the name of a projector's consumer of one kind for
// partition p of the n partitions of a projection: ConsumerName, followed by
// -<p> when n > 1 ('-' is not allowed in a projection's name, so that
// partition 3 of accounts never shares a consumer with a projection named
// accounts_3).
func PartitionConsumerName(deployment, kind, projection string, p, n int) string {
	name := ConsumerName(deployment, kind, projection)
	if n <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(p)
}

// PartitionsKey records the partition count of a projection kept in several
// partitions (decimal; absent means one).
func (k Keys) PartitionsKey() string { return k.tag + ":partitions" }

// ErrPartitionCount means a projection is configured with a partition count
// other than the one its read model is kept in.
var ErrPartitionCount = errors.New("partition count differs from the one the read model is kept in")

// recordPartitionsScript returns the partition count recorded for a
// projection, recording ARGV[1] when there is none yet: a projection of
// several partitions whose one-partition layout exists (its generation
// pointer, KEYS[2]) is recorded as one, so that the runner refuses it.
var recordPartitionsScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return tonumber(cur) end
if ARGV[1] == '1' or redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
redis.call('SET', KEYS[1], ARGV[1])
return tonumber(ARGV[1])`)

// recordPartitions records p's partition count, or refuses a count that
// differs from the recorded one. A projection of one partition writes
// nothing (absent means one), as before partitions existed.
func (r *Runner) recordPartitions(ctx context.Context, p Projection) error {
	n := max(p.Partitions, 1)
	keys := KeysOf(p.Name)
	got, err := recordPartitionsScript.Run(ctx, r.rdb, []string{keys.PartitionsKey(), keys.Generation()}, n).Int()
	if err != nil {
		return fmt.Errorf("projections: record the partition count of %s: %w", p.Name, err)
	}
	if got != n {
		return fmt.Errorf("projections: projection %s is configured with %d partitions, but its read model is kept in %d: %w; "+
			"a partition count cannot change in place: delete the projection's keys (%s* and %s/*) or give it a new name, and it is built afresh from the stream",
			p.Name, n, got, ErrPartitionCount, KeyPrefix+"{"+p.Name+"}", KeyPrefix+"{"+p.Name)
	}
	return nil
}

// Partitions returns the partition count of projection name as the runner
// recorded it (1 when none is recorded).
func Partitions(ctx context.Context, rdb redis.Cmdable, name string) (int, error) {
	n, err := rdb.Get(ctx, KeysOf(name).PartitionsKey()).Int()
	if errors.Is(err, redis.Nil) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("projection %s: partitions: %w", name, err)
	}
	return max(n, 1), nil
}

// PartitionOfAggregate is the partition, of the n partitions of a
// projection, of aggregate typ/id (PartitionOf without building a Ref).
func PartitionOfAggregate(typ, id string, n int) int { return partitionOfKey(typ, id, n) }

// PartitionLabel names partition p of the n partitions of projection name:
// <name>/<p>, or name when n <= 1 (as logs, metrics and Inspect do).
func PartitionLabel(name string, p, n int) string { return partitionLabel(name, p, n) }

// ReachedLabel is Reached of a projection (name) or ReachedPartition of one
// of its partitions (<name>/<p>, PartitionLabel).
func ReachedLabel(ctx context.Context, rdb redis.Cmdable, label string) (uint64, error) {
	name, part, ok := strings.Cut(label, "/")
	if !ok {
		return Reached(ctx, rdb, name)
	}
	p, err := strconv.Atoi(part)
	if err != nil {
		return 0, fmt.Errorf("projection partition %q: %w", label, err)
	}
	n, err := Partitions(ctx, rdb, name)
	if err != nil {
		return 0, err
	}
	if p >= n {
		return 0, fmt.Errorf("projection partition %q: %s has %d partitions", label, name, n)
	}
	return ReachedPartition(ctx, rdb, name, p, n)
}
