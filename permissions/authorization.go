package permissions

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// passwordBytes is the randomness of a generated password (192 bits).
const passwordBytes = 24

// User is one NATS user of a deployment as the server knows it: its name,
// role, and a bcrypt hash of its password or its public NKey.
type User struct {
	Name string
	Role Role
	// PasswordHash is the bcrypt hash of the user's password; empty for an
	// NKey user.
	PasswordHash string
	// NKey is the user's public NKey (U…); empty for a password user.
	NKey string
}

// Credentials are a user with its secret, to hand to whoever connects as it
// and to nobody else: the server's authorization block holds only the hash
// or the public key.
type Credentials struct {
	User User
	// Password is the plain password of a password user.
	Password string
	// Seed is the NKey seed of an NKey user.
	Seed []byte
}

// NewPasswordUser returns a user of role with a generated password.
func NewPasswordUser(name string, role Role) (Credentials, error) {
	if err := checkUser(name, role); err != nil {
		return Credentials{}, err
	}
	raw := make([]byte, passwordBytes)
	if _, err := rand.Read(raw); err != nil {
		return Credentials{}, fmt.Errorf("permissions: password of %s: %w", name, err)
	}
	password := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return Credentials{}, fmt.Errorf("permissions: hash the password of %s: %w", name, err)
	}
	return Credentials{User: User{Name: name, Role: role, PasswordHash: string(hash)}, Password: password}, nil
}

// NewNKeyUser returns a user of role with a generated NKey.
func NewNKeyUser(name string, role Role) (Credentials, error) {
	if err := checkUser(name, role); err != nil {
		return Credentials{}, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return Credentials{}, fmt.Errorf("permissions: nkey of %s: %w", name, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return Credentials{}, fmt.Errorf("permissions: nkey of %s: %w", name, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return Credentials{}, fmt.Errorf("permissions: nkey of %s: %w", name, err)
	}
	return Credentials{User: User{Name: name, Role: role, NKey: pub}, Seed: seed}, nil
}

func checkUser(name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if !userName.MatchString(name) {
		return fmt.Errorf("permissions: %w %q: 1 to 64 letters, digits, '-' or '_'", ErrBadUser, name)
	}
	return nil
}

// Authorization returns the nats-server authorization block of users: each
// with its hash or public key and the permissions of its role in d. Include
// it in the server's configuration (include authorization.conf).
func (d Deployment) Authorization(users []User) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# jetsource NATS users of deployment %q (stream %s, snapshot bucket %s),\n", d.Name, d.Stream, d.SnapshotBucket)
	b.WriteString("# made by `jetsource nats-config`; see the README's \"Permissions\".\n")
	b.WriteString("authorization {\n  users = [\n")
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u.Name] {
			return "", fmt.Errorf("permissions: %w %q: named twice", ErrBadUser, u.Name)
		}
		seen[u.Name] = true
		p, err := d.For(u.Role, u.Name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "    # %s: role %s, replies on %s\n    {", u.Name, u.Role, InboxPrefix(u.Name))
		switch {
		case u.NKey != "":
			fmt.Fprintf(&b, "nkey: %s", strconv.Quote(u.NKey))
		case u.PasswordHash != "":
			fmt.Fprintf(&b, "user: %s, password: %s", strconv.Quote(u.Name), strconv.Quote(u.PasswordHash))
		default:
			return "", fmt.Errorf("permissions: %w %q: neither a password hash nor an nkey", ErrBadUser, u.Name)
		}
		b.WriteString(", permissions: {\n")
		fmt.Fprintf(&b, "      publish: {allow: %s", list(p.Publish))
		if len(p.PublishDeny) > 0 {
			fmt.Fprintf(&b, ", deny: %s", list(p.PublishDeny))
		}
		b.WriteString("}\n")
		fmt.Fprintf(&b, "      subscribe: {allow: %s", list(p.Subscribe))
		if len(p.SubscribeDeny) > 0 {
			fmt.Fprintf(&b, ", deny: %s", list(p.SubscribeDeny))
		}
		b.WriteString("}\n    }}\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func list(subjects []string) string {
	q := make([]string, len(subjects))
	for i, s := range subjects {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Env returns the environment of a service connecting as c, one
// NAME=value line each (NATS_USER and NATS_PASSWORD, or NATS_NKEY naming
// seedFile), with its inbox prefix.
func (c Credentials) Env(seedFile string) string {
	var b strings.Builder
	if c.User.NKey != "" {
		fmt.Fprintf(&b, "NATS_NKEY=%s\n", seedFile)
	} else {
		fmt.Fprintf(&b, "NATS_USER=%s\nNATS_PASSWORD=%s\n", c.User.Name, c.Password)
	}
	fmt.Fprintf(&b, "JETSOURCE_NATS_INBOX_PREFIX=%s\n", InboxPrefix(c.User.Name))
	return b.String()
}

// YAML returns the same settings as Env as a settings file of package config
// (JETSOURCE_CONFIG), holding only the nats section.
func (c Credentials) YAML(seedFile string) ([]byte, error) {
	type natsSettings struct {
		User         string `yaml:"user,omitempty"`
		Password     string `yaml:"password,omitempty"`
		NKeySeedFile string `yaml:"nkey_seed_file,omitempty"`
		InboxPrefix  string `yaml:"inbox_prefix"`
	}
	n := natsSettings{InboxPrefix: InboxPrefix(c.User.Name)}
	if c.User.NKey != "" {
		n.NKeySeedFile = seedFile
	} else {
		n.User, n.Password = c.User.Name, c.Password
	}
	return yaml.Marshal(map[string]natsSettings{"nats": n})
}
