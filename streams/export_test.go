package streams

// CheckServerVersion exposes the version check to the tests.
var CheckServerVersion = checkServerVersion
