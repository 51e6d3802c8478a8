package shred

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
)

// FormatV1 is the enc member of a sealed field of the v1 format.
const FormatV1 = "v1"

// adPrefix starts the associated data of every v1 ciphertext.
const adPrefix = "jetsource/shred/v1"

// sealed is the wire form of a sealed field.
type sealed struct {
	Enc string `json:"enc"`
	KID string `json:"kid"`
	CT  string `json:"ct"`
}

// Seal returns data, a JSON object, with each of fields that it holds (and
// that is not null) replaced by its value sealed with the subject's key,
// which is made when the subject has none. data is returned as it is when
// no field is to be sealed.
func (k *Keyring) Seal(ctx context.Context, subject, eventType string, data []byte, fields []string) ([]byte, error) {
	if len(fields) == 0 {
		return data, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("shred: seal %s of %s: the payload is not a JSON object: %w", eventType, subject, err)
	}
	var aead cipher.AEAD
	var kid string
	changed := false
	for _, f := range fields {
		v, ok := obj[f]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if aead == nil {
			key, err := k.ensure(ctx, subject)
			if err != nil {
				return nil, err
			}
			if aead, err = newAEAD(key.Secret); err != nil {
				return nil, err
			}
			kid = key.ID
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(v)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("shred: nonce: %w", err)
		}
		ct := aead.Seal(nonce, nonce, v, associatedData(subject, eventType, f))
		b, err := json.Marshal(sealed{Enc: FormatV1, KID: kid, CT: base64.StdEncoding.EncodeToString(ct)})
		if err != nil {
			return nil, err
		}
		obj[f] = b
		changed = true
	}
	if !changed {
		return data, nil
	}
	return json.Marshal(obj)
}

// Open returns data with its sealed top-level fields opened with the
// subject's key. When the subject has no key (it was forgotten), or a field
// names a key that is not its key now, the field is set to null and named
// in forgotten. A field that does not authenticate is ErrTampered. data is
// returned as it is when it holds no sealed field.
func (k *Keyring) Open(ctx context.Context, subject, eventType string, data []byte) (plain []byte, forgotten []string, err error) {
	if !bytes.Contains(data, []byte(`"enc"`)) {
		return data, nil, nil // the fast path: no sealed field
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return data, nil, nil // not an object: nothing of it is sealed
	}
	fields := make([]string, 0, len(obj))
	for f := range obj {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	var key *subjectKey
	var aead cipher.AEAD
	changed := false
	for _, f := range fields {
		s, ok := parseSealed(obj[f])
		if !ok {
			continue
		}
		changed = true
		if key == nil {
			got, found, err := k.key(ctx, subject)
			if err != nil {
				return nil, nil, err
			}
			key = &got
			if found {
				if aead, err = newAEAD(got.Secret); err != nil {
					return nil, nil, err
				}
			}
		}
		if aead == nil || s.KID != key.ID {
			obj[f] = json.RawMessage("null")
			forgotten = append(forgotten, f)
			continue
		}
		ct, err := base64.StdEncoding.DecodeString(s.CT)
		if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
			return nil, nil, fmt.Errorf("%w: field %s of %s of %s: ct is not base64 of nonce, ciphertext and tag", ErrMalformed, f, eventType, subject)
		}
		v, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], associatedData(subject, eventType, f))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: field %s of %s of %s", ErrTampered, f, eventType, subject)
		}
		obj[f] = v
	}
	if !changed {
		return data, nil, nil
	}
	out, err := json.Marshal(obj)
	return out, forgotten, err
}

// parseSealed reads a sealed field: an object of exactly enc, kid and ct,
// enc being v1. Anything else is a plain value.
func parseSealed(v json.RawMessage) (sealed, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return sealed{}, false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(v, &members) != nil || len(members) != 3 {
		return sealed{}, false
	}
	var s sealed
	if json.Unmarshal(v, &s) != nil || s.Enc != FormatV1 || s.KID == "" || s.CT == "" {
		return sealed{}, false
	}
	return s, true
}

// associatedData binds a ciphertext to its subject, event type and field.
func associatedData(subject, eventType, field string) []byte {
	return []byte(adPrefix + "\x00" + subject + "\x00" + eventType + "\x00" + field)
}

func newAEAD(secret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return cipher.NewGCM(block)
}
