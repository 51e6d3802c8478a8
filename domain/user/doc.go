// Package user is the sample user aggregate: a registration with a unique
// username and a password kept only as its bcrypt hash.
//
// Commands (subjects cmd.user.<command>, data in braces):
//
//	register {username, password}  creates the user -> UserRegistered {username, password_hash}
//	forget                          forgets the user -> UserForgotten {}
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
//     logged with log/slog or encoded as JSON;
//   - username and password_hash are personal data (codec.WithPersonal): the
//     event store keeps them sealed with the user's key. forget appends
//     UserForgotten (codec.Forgets), after which the key is deleted: the
//     state reads Forgotten with an empty Username and PasswordHash, the
//     users read model drops the user (user.get answers 404, also after a
//     rebuild), and the username is given back (Command.Releasing), free
//     for another user. Forgetting a forgotten user appends nothing.
//
// register needs a new aggregate (aggregate.ErrExists); forget an existing
// one (aggregate.ErrNotFound).
package user
