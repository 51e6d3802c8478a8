// Package user is the sample user aggregate: a registration with a unique
// username and a password kept only as its bcrypt hash.
//
// Command (subject cmd.user.register, data in braces):
//
//	register {username, password}  creates the user -> UserRegistered {username, password_hash}
//
// Invariants and guarantees:
//
//   - username is lower-cased (ASCII letters only) and must then be
//     MinUsernameLength to MaxUsernameLength characters of a-z, 0-9, '_',
//     '.' and '-' (aggregate.ErrInvalid); the register command is declared
//     with aggregate.Unique on that normalised username, so the writer
//     reserves it race-free and two users never share one;
//   - password is MinPasswordBytes to MaxPasswordBytes bytes: bcrypt reads
//     no more than 72 bytes, so a longer password is refused rather than
//     silently cut (aggregate.ErrInvalid);
//   - the plain password never leaves the command: the event holds a bcrypt
//     hash (cost DefaultCost, or the one given to DefinitionWithCost), no
//     error message quotes it, and Register redacts it when printed with fmt,
//     logged with log/slog or encoded as JSON.
//
// register needs a new aggregate (aggregate.ErrExists).
package user
