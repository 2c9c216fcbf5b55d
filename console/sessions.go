package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/paystream/paystream/access"
)

// CookieName is the session cookie's name.
const CookieName = "paystream_session"

// Keys authenticates API keys (*access.Keyring).
type Keys interface {
	Authenticate(t access.Token) (access.Principal, error)
}

// Default session lifetimes: a session ends after IdleTimeout without a request, and
// MaxAge after it began whatever happens.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxAge      = 8 * time.Hour
	// MaxSessions bounds the sessions held; signing in past it ends the least recently used.
	MaxSessions = 10_000
)

// Sessions holds the console's sessions in memory. Safe for concurrent use.
type Sessions struct {
	keys        Keys
	idle, maxAt time.Duration
	now         func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session // by the hash of the cookie's value
}

type session struct {
	token     access.Token // the API key signed in with, re-checked on every request
	csrf      string
	began     time.Time
	lastSeen  time.Time
	principal access.Principal
}

// SessionOptions configures NewSessions; zero fields take the defaults.
type SessionOptions struct {
	IdleTimeout, MaxAge time.Duration
	Now                 func() time.Time
}

// NewSessions returns an empty session store that authenticates keys against keys.
func NewSessions(keys Keys, opts SessionOptions) *Sessions {
	s := &Sessions{keys: keys, idle: opts.IdleTimeout, maxAt: opts.MaxAge, now: opts.Now,
		byID: map[[sha256.Size]byte]*session{}}
	if s.idle <= 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.maxAt <= 0 {
		s.maxAt = DefaultMaxAge
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Begun is a new session: the cookie's value and the CSRF token the page must send.
type Begun struct {
	ID, CSRFToken string
	Principal     access.Principal
	Expires       time.Time // the latest it can last (MaxAge)
}

// Begin authenticates key and starts a session for it. Errors: access.ErrNoCredential,
// access.ErrUnknownCredential.
func (s *Sessions) Begin(key access.Token) (Begun, error) {
	who, err := s.keys.Authenticate(key)
	if err != nil {
		return Begun{}, fmt.Errorf("sign in: %w", err)
	}
	id, csrf := randomToken(), randomToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.byID[sha256.Sum256([]byte(id))] = &session{token: key, csrf: csrf, began: now, lastSeen: now, principal: who}
	return Begun{ID: id, CSRFToken: csrf, Principal: who, Expires: now.Add(s.maxAt)}, nil
}

// Session implements httpapi.Sessions: who the session cookie on r belongs to and its CSRF
// token. Each call re-authenticates the key and extends the idle timeout. Errors:
// access.ErrNoCredential without a cookie, access.ErrUnknownCredential for an unknown or
// expired session or a key no longer configured (the session ends).
func (s *Sessions) Session(r *http.Request) (access.Principal, string, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return access.Principal{}, "", access.ErrNoCredential
	}
	h := sha256.Sum256([]byte(c.Value))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[h]
	if !ok || s.expired(ss, now) {
		delete(s.byID, h)
		return access.Principal{}, "", fmt.Errorf("console session: %w", access.ErrUnknownCredential)
	}
	who, err := s.keys.Authenticate(ss.token)
	if err != nil {
		delete(s.byID, h)
		return access.Principal{}, "", fmt.Errorf("console session: %w", access.ErrUnknownCredential)
	}
	ss.lastSeen, ss.principal = now, who
	return who, ss.csrf, nil
}

// End ends the session whose cookie r carries, if any.
func (s *Sessions) End(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		s.mu.Lock()
		delete(s.byID, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

// Len is how many sessions are held (expired ones included until swept).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *Sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastSeen) > s.idle || now.Sub(ss.began) > s.maxAt
}

// sweep drops expired sessions and, at MaxSessions, the least recently used. Called with
// s.mu held.
func (s *Sessions) sweep(now time.Time) {
	for h, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, h)
		}
	}
	for len(s.byID) >= MaxSessions {
		var oldest [sha256.Size]byte
		first := true
		for h, ss := range s.byID {
			if first || ss.lastSeen.Before(s.byID[oldest].lastSeen) {
				oldest, first = h, false
			}
		}
		delete(s.byID, oldest)
	}
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var errBadSignIn = errors.New(`send {"key": "<API key>"} as application/json`)
