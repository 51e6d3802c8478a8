package projections

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/jetsource/jetsource/streams"
)

// KeyPrefix is the first part of every key the projections write.
const KeyPrefix = "jetsource:proj:"

// Keys names the keys of one partition of one projection. Every key of a
// partition carries the same Redis Cluster hash tag, {<name>} for a
// projection of one partition and {<name>/<p>} for partition p of several,
// so that the keys one transaction or read script touches always live in
// one slot (CROSSSLOT never happens) and the partitions of a projection
// spread over the masters.
type Keys struct{ name, tag string }

// KeysOf returns the keys of projection name (of one partition).
func KeysOf(name string) Keys { return Keys{name: name, tag: KeyPrefix + "{" + name + "}"} }

// PartitionKeys returns the keys of partition p of the n partitions of
// projection name; with n <= 1 they are KeysOf(name).
func PartitionKeys(name string, p, n int) Keys {
	if n <= 1 {
		return KeysOf(name)
	}
	return Keys{name: name, tag: KeyPrefix + "{" + name + "/" + strconv.Itoa(p) + "}"}
}

// PartitionOf is the partition of n that the events of aggregate ref belong
// to: FNV-1a (32 bits) of "<type>.<id>", modulo n. It is part of the
// contract: it never changes for a given n.
func PartitionOf(ref streams.Ref, n int) int {
	if n <= 1 {
		return 0
	}
	return partitionOfKey(ref.Type(), ref.ID(), n)
}

// partitionOfKey is PartitionOf of aggregate typ/id.
func partitionOfKey(typ, id string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(typ))
	_, _ = h.Write([]byte{'.'})
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// Generation is the pointer to the current generation.
func (k Keys) Generation() string { return k.tag + ":gen" }

// Lease is the active runner's lease.
func (k Keys) Lease() string { return k.tag + ":lease" }

// RebuildLock is held by the one rebuild of the projection that may run.
func (k Keys) RebuildLock() string { return k.tag + ":rebuild" }

// Status is the status hash.
func (k Keys) Status() string { return k.tag + ":status" }

// Gen returns the prefix of generation g's keys, ending in ':'.
func (k Keys) Gen(g int64) string { return k.tag + ":g" + strconv.FormatInt(g, 10) + ":" }

// Checkpoint is generation g's checkpoint.
func (k Keys) Checkpoint(g int64) string { return k.Gen(g) + "checkpoint" }

// Reached is generation g's reached sequence.
func (k Keys) Reached(g int64) string { return k.Gen(g) + "reached" }

// Versions is generation g's hash of subject -> last applied version.
func (k Keys) Versions(g int64) string { return k.Gen(g) + "versions" }

// KeySpace names the keys of one generation of one projection: every key a
// projection writes or reads lives in it, so that a rebuild can write a
// fresh generation beside the live one and switch over atomically.
type KeySpace struct{ prefix string }

// Key returns the key made of parts joined by ':' in the key space, e.g.
// Key("account", id).
func (k KeySpace) Key(parts ...string) string { return k.prefix + strings.Join(parts, ":") }

// Space returns the key space of generation g.
func (k Keys) Space(g int64) KeySpace { return KeySpace{prefix: k.Gen(g)} }
