// Package shred makes personal data in an append-only event store
// forgettable by crypto-shredding: the fields of an event that hold
// personal data are stored encrypted with a key of their data subject, and
// forgetting the subject deletes that key. The events stay in the stream,
// unchanged and in order; their personal fields can never be read again.
//
// # Model
//
// A data subject is named by a string (jetsource uses the aggregate, e.g.
// "user.u-42", so one key per aggregate). Its key is a random 256-bit
// AES-GCM key kept in a JetStream key-value bucket (a Keyring), created the
// first time the subject's personal data is sealed. Each key has a random
// key id (kid) that the ciphertexts name, so that a key made after a
// subject was forgotten never opens what was sealed before.
//
// Seal replaces the named top-level fields of a JSON object by sealed
// values; Open restores them, or, when the subject's key is gone, sets them
// to JSON null, which decodes into Go as the field's zero value ("" for a
// string): that is how a forgotten field reads. Forget deletes the key
// (a purge: no revision of it is kept).
//
// # Wire format of a sealed field (v1)
//
// A sealed field's value is a JSON object of exactly three members:
//
//	{"username": {"enc": "v1", "kid": "<key id>", "ct": "<base64>"}}
//
// enc is the format version, "v1"; kid names the subject's key; ct is
// standard base64 (with padding) of the 12-byte GCM nonce followed by the
// AES-256-GCM ciphertext and its 16-byte tag. The plaintext is the field's
// JSON value as it was (a string with its quotes, a number, an object …).
// The associated data binds the ciphertext to where it belongs:
//
//	"jetsource/shred/v1" 0x00 <subject> 0x00 <event type> 0x00 <field>
//
// so a sealed value moved to another subject, event type or field does not
// open: that is reported as ErrTampered, never read as forgotten.
//
// Only top-level fields are sealed. A field that is absent or null is left
// as it is.
package shred
