package shred

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// DefaultBucket is the key-value bucket of subjects' keys.
const DefaultBucket = "SUBJECT_KEYS"

// keySize is the size of a subject key: AES-256.
const keySize = 32

// Errors callers branch on.
var (
	// ErrTampered means a sealed field does not authenticate with its
	// subject's key: it was altered, or moved from another subject, event
	// type or field. It is never read as forgotten.
	ErrTampered = errors.New("shred: sealed field does not authenticate")
	// ErrMalformed means a sealed field or a key is not in the v1 format.
	ErrMalformed = errors.New("shred: malformed sealed field or key")
	// ErrKeys means the bucket of keys could not be read or written.
	ErrKeys = errors.New("shred: subject keys unavailable")
)

// BucketConfig is the configuration of the bucket of keys: one revision per
// key, so that forgetting leaves no older one behind.
func BucketConfig(name string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "jetsource personal data: <subject> -> its key; deleting a key forgets the subject",
		History:     1,
		Storage:     jetstream.FileStorage,
	}
}

// Keyring keeps one key per data subject in a JetStream key-value bucket. It
// caches no key: a key forgotten by any process is gone for every process
// at once. It is safe for concurrent use.
type Keyring struct {
	mu     sync.Mutex
	kv     jetstream.KeyValue
	lookup func(context.Context) (jetstream.KeyValue, error)
}

// NewKeyring returns the keyring of bucket kv.
func NewKeyring(kv jetstream.KeyValue) *Keyring { return &Keyring{kv: kv} }

// KeyringOf returns the keyring of the bucket named bucket on js, bound on
// first use, for readers that do not provision it (the store does).
func KeyringOf(js jetstream.JetStream, bucket string) *Keyring {
	return &Keyring{lookup: func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, bucket) }}
}

func (k *Keyring) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kv != nil {
		return k.kv, nil
	}
	kv, err := k.lookup(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: open bucket: %w", ErrKeys, err)
	}
	k.kv = kv
	return kv, nil
}

// subjectKey is a stored key: its id and its secret.
type subjectKey struct {
	ID     string `json:"kid"`
	Secret []byte `json:"key"`
}

// key returns the subject's key; found is false when it has none (never
// had, or forgotten).
func (k *Keyring) key(ctx context.Context, subject string) (key subjectKey, found bool, err error) {
	kv, err := k.bucket(ctx)
	if err != nil {
		return subjectKey{}, false, err
	}
	entry, err := kv.Get(ctx, subject)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return subjectKey{}, false, nil
	}
	if err != nil {
		return subjectKey{}, false, fmt.Errorf("%w: key of %s: %w", ErrKeys, subject, err)
	}
	if err := json.Unmarshal(entry.Value(), &key); err != nil || key.ID == "" || len(key.Secret) != keySize {
		return subjectKey{}, false, fmt.Errorf("%w: the key of %s is not a %d-byte key with an id", ErrMalformed, subject, keySize)
	}
	return key, true, nil
}

// ensure returns the subject's key, making one when it has none. Of two
// processes making it at once, one wins (create-only) and both use its key.
func (k *Keyring) ensure(ctx context.Context, subject string) (subjectKey, error) {
	for range 2 {
		key, found, err := k.key(ctx, subject)
		if err != nil || found {
			return key, err
		}
		key = subjectKey{ID: nuid.Next(), Secret: make([]byte, keySize)}
		if _, err := rand.Read(key.Secret); err != nil {
			return subjectKey{}, fmt.Errorf("shred: new key of %s: %w", subject, err)
		}
		b, err := json.Marshal(key)
		if err != nil {
			return subjectKey{}, err
		}
		kv, err := k.bucket(ctx)
		if err != nil {
			return subjectKey{}, err
		}
		_, err = kv.Create(ctx, subject, b)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return subjectKey{}, fmt.Errorf("%w: create key of %s: %w", ErrKeys, subject, err)
		}
		// Another process made it first: use that one.
	}
	return subjectKey{}, fmt.Errorf("%w: key of %s: created and deleted while it was being made", ErrKeys, subject)
}

// Holds reports whether the subject has a key, i.e. has personal data
// sealed and is not forgotten.
func (k *Keyring) Holds(ctx context.Context, subject string) (bool, error) {
	_, found, err := k.key(ctx, subject)
	return found, err
}

// Forget deletes the subject's key, with every revision of it: whatever
// was sealed with it reads as forgotten from now on, everywhere. Forgetting
// a subject without a key is a no-op, so a forget can be repeated until it
// is known to have happened.
func (k *Keyring) Forget(ctx context.Context, subject string) error {
	kv, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, subject); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: forget %s: %w", ErrKeys, subject, err)
	}
	return nil
}
