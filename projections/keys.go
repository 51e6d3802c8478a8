package projections

import "strconv"

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
