package access

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
)

// Role is what a key may do. The HTTP layer maps routes to roles.
type Role string

// The roles.
const (
	Merchant Role = "merchant" // checkout, confirm, cancel, reads
	Operator Role = "operator" // everything under /admin, metrics
	Auditor  Role = "auditor"  // read-only: payments, events, everything under /audit
)

// Roles lists every role, in a stable order.
var Roles = []Role{Merchant, Operator, Auditor}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == Merchant || r == Operator || r == Auditor }

// Principal is who authenticated: the key's name (recorded as the actor of every event the
// request causes) and its role.
type Principal struct {
	Name string
	Role Role
}

// Token is a bearer token as presented or generated. It redacts itself in logs.
type Token string

// LogValue implements slog.LogValuer: a token is never logged.
func (Token) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String redacts too, so a token printed by mistake with %v or %s shows nothing.
func (Token) String() string { return "[redacted]" }

// Reveal is the token itself, for the one place that must print or send it.
func (t Token) Reveal() string { return string(t) }

// Hash is the SHA-256 of a token, as configured ("sha256:<64 hex digits>").
type Hash [sha256.Size]byte

// HashOf returns the hash of t.
func HashOf(t Token) Hash { return sha256.Sum256([]byte(t)) }

// String is the configured form of h.
func (h Hash) String() string { return "sha256:" + hex.EncodeToString(h[:]) }

// ParseHash reads "sha256:<hex>".
func ParseHash(s string) (Hash, error) {
	var h Hash
	hexed, ok := strings.CutPrefix(s, "sha256:")
	b, err := hex.DecodeString(hexed)
	if !ok || err != nil || len(b) != len(h) {
		return h, errors.New("not sha256:<64 hex digits>")
	}
	copy(h[:], b)
	return h, nil
}

// NewToken returns a fresh random token ("psk_" and 43 base64url characters: 256 bits).
func NewToken() Token {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return Token("psk_" + base64.RawURLEncoding.EncodeToString(b[:]))
}

// Key is one configured credential: a name, a role and the hash of its token. Several
// keys may share a name (the old and new key while rotating).
type Key struct {
	Name string
	Role Role
	Hash Hash
}

// String is the key's line in a keys file ("name role sha256:…").
func (k Key) String() string { return k.Name + " " + string(k.Role) + " " + k.Hash.String() }

// ParseKeys reads keys, one per line as "name role sha256:<hex>" (whitespace-separated) or
// one per comma-separated entry as "name:role:sha256:<hex>" (the environment form); blank
// lines and lines starting with # are skipped. Errors name the line or entry, never echo
// it whole (a pasted token must not end up in a log).
func ParseKeys(r io.Reader) ([]Key, error) {
	var (
		keys []Key
		errs []error
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for i, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			k, err := parseKey(entry)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d entry %d: %w", n, i+1, err))
				continue
			}
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return keys, errors.Join(errs...)
}

func parseKey(entry string) (Key, error) {
	var f []string
	if strings.ContainsAny(entry, " \t") {
		f = strings.Fields(entry)
	} else if i := strings.LastIndex(entry, ":sha256:"); i >= 0 {
		// name:role:sha256:<hex>; the name may hold colons ("ops:kim").
		if j := strings.LastIndex(entry[:i], ":"); j >= 0 {
			f = []string{entry[:j], entry[j+1 : i], entry[i+1:]}
		}
	} else {
		f = strings.Split(entry, ":")
	}
	if len(f) != 3 {
		return Key{}, errors.New(`want "name role sha256:<hex>" or "name:role:sha256:<hex>"`)
	}
	k := Key{Name: f[0], Role: Role(f[1])}
	if k.Name == "" || len(k.Name) > 64 || strings.ContainsFunc(k.Name, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return Key{}, errors.New("the name must be 1–64 printable ASCII characters")
	}
	if !k.Role.Valid() {
		return Key{}, fmt.Errorf("role %q is not merchant, operator or auditor", f[1])
	}
	h, err := ParseHash(f[2])
	if err != nil {
		if strings.HasPrefix(f[2], "psk_") {
			return Key{}, errors.New("the hash is a token: configure its hash (paymentctl key hash), never the token")
		}
		return Key{}, fmt.Errorf("the hash is %w", err)
	}
	k.Hash = h
	return k, nil
}

// ErrNoCredential: the request carried no bearer token.
var ErrNoCredential = errors.New("no credential")

// ErrUnknownCredential: the token matches no configured key.
var ErrUnknownCredential = errors.New("unknown credential")

// Keyring authenticates tokens against configured keys. Safe for concurrent use; Replace
// swaps the keys atomically (rotation without restart).
type Keyring struct {
	keys atomic.Pointer[[]Key]
}

// NewKeyring returns a keyring holding keys.
func NewKeyring(keys []Key) *Keyring {
	k := &Keyring{}
	k.Replace(keys)
	return k
}

// Replace makes keys the configured set from now on.
func (k *Keyring) Replace(keys []Key) {
	cp := append([]Key(nil), keys...)
	k.keys.Store(&cp)
}

// Len is how many keys are configured.
func (k *Keyring) Len() int { return len(*k.keys.Load()) }

// Authenticate returns the principal whose key's hash matches t. Every configured hash is
// compared, in constant time, whatever matched first. Errors: ErrNoCredential for an
// empty token, ErrUnknownCredential when nothing matches.
func (k *Keyring) Authenticate(t Token) (Principal, error) {
	if t == "" {
		return Principal{}, ErrNoCredential
	}
	h := HashOf(t)
	found := -1
	keys := *k.keys.Load()
	for i := range keys {
		if subtle.ConstantTimeCompare(h[:], keys[i].Hash[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, ErrUnknownCredential
	}
	return Principal{Name: keys[found].Name, Role: keys[found].Role}, nil
}

// BearerToken is the token of an "Authorization: Bearer <token>" header value ("" when it
// is absent or another scheme).
func BearerToken(header string) Token {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return Token(strings.TrimSpace(tok))
}
