package projections

import (
	"strconv"
	"strings"
)

// KeyPrefix is the first part of every key the projections write.
const KeyPrefix = "jetsource:proj:"

// Keys names the keys of one projection.
type Keys struct{ name string }

// KeysOf returns the keys of projection name.
func KeysOf(name string) Keys { return Keys{name: name} }

// Generation is the pointer to the current generation.
func (k Keys) Generation() string { return KeyPrefix + k.name + ":gen" }

// Lease is the active runner's lease.
func (k Keys) Lease() string { return KeyPrefix + k.name + ":lease" }

// RebuildLock is held by the one rebuild of the projection that may run.
func (k Keys) RebuildLock() string { return KeyPrefix + k.name + ":rebuild" }

// Status is the status hash.
func (k Keys) Status() string { return KeyPrefix + k.name + ":status" }

// Gen returns the prefix of generation g's keys, ending in ':'.
func (k Keys) Gen(g int64) string { return KeyPrefix + k.name + ":g" + strconv.FormatInt(g, 10) + ":" }

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
