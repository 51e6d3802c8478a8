package streams

// CheckServerVersion exposes the version check to the tests.
var CheckServerVersion = checkServerVersion

// SpreadLeaders exposes the leader spreading to the benchmarks' raw
// baseline streams.
var SpreadLeaders = spreadLeaders
