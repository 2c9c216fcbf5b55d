package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paystream/paystream/access"
)

// Who may call what. The table is by path, not by route, so that it also covers what
// paymentd mounts next to this package's router (the read-model operations under
// /admin/v1/readmodel/) and routes that do not exist (a caller without a key learns nothing
// about which do).
//
//	open to all:  GET /healthz, GET /readyz, GET /openapi.yaml, POST /v1/webhooks/toss
//	              (Toss cannot send a bearer token; its webhook is checked otherwise), and
//	              everything under /console/ (its pages, and the sign-in that exchanges a key
//	              for a session; the console's data calls are the routes below)
//	operator:     everything under /admin/, and GET /metrics
//	auditor:      everything under /audit/
//	operator too: reads of one payment's history under /audit/v1/payments/ (timeline,
//	              as-of, verification): who resolves a payment must see why it is stuck
//	merchant:     every other write (checkout, confirm, cancel)
//	merchant, auditor and operator: every other read (payments, events)
func rolesFor(method, path string) (open bool, roles []access.Role) {
	switch {
	case method == http.MethodGet && (path == "/healthz" || path == "/readyz" || path == "/openapi.yaml"),
		method == http.MethodPost && path == "/v1/webhooks/toss",
		path == "/console", strings.HasPrefix(path, "/console/"):
		return true, nil
	case strings.HasPrefix(path, "/admin/"), path == "/metrics":
		return false, []access.Role{access.Operator}
	case strings.HasPrefix(path, "/audit/v1/payments/") && isRead(method):
		return false, []access.Role{access.Auditor, access.Operator}
	case strings.HasPrefix(path, "/audit/"):
		return false, []access.Role{access.Auditor}
	case isRead(method):
		return false, []access.Role{access.Merchant, access.Auditor, access.Operator}
	default:
		return false, []access.Role{access.Merchant}
	}
}

func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// errForbidden: the caller authenticated, but its role may not call this route.
var errForbidden = errors.New("this key's role may not call this route")

// errCSRF: a request that may change something came with the console's session cookie but
// without the session's CSRF token (a page on another site cannot read it).
var errCSRF = fmt.Errorf("missing or wrong %s header for this session: %w", CSRFHeader, errForbidden)

// CSRFHeader carries a console session's CSRF token on every request that is not a read.
const CSRFHeader = "X-CSRF-Token"

// rateLimited: the key made more write requests than its rate allows.
type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string { return "rate limit exceeded" }

// Keys authenticates bearer tokens (access.Keyring).
type Keys interface {
	Authenticate(t access.Token) (access.Principal, error)
}

// Sessions authenticates the console's session cookie (*console.Sessions).
type Sessions interface {
	// Session returns who signed in for the session cookie on r, and the session's CSRF
	// token: access.ErrNoCredential when r has no session cookie, access.ErrUnknownCredential
	// for an unknown or expired session or a key no longer configured.
	Session(r *http.Request) (who access.Principal, csrfToken string, err error)
}

// ProtectOptions configures Protect.
type ProtectOptions struct {
	Logger *slog.Logger
	// Limiter bounds each key's write requests (nil: no limit).
	Limiter *access.Limiter
	// Registry receives the refusal counters (nil: not exposed).
	Registry prometheus.Registerer
	// Sessions, when set, lets a request without an Authorization header authenticate
	// with the console's session cookie instead; such a request that is not a read must
	// carry the session's CSRF token in CSRFHeader.
	Sessions Sessions
}

// Protect puts every request to next behind an API key: it gives the request its id,
// authenticates the bearer token against keys, checks the key's role against the table
// above, rate-limits writes per key, puts the principal in the context (its name becomes
// the actor of every event the request causes), and logs one line per request with who
// made it. Refusals are problem+json: 401 without or with an unknown key, 403 for the
// wrong role, 429 over the rate. Failed authentications are counted (on /metrics) and
// logged without the token. Safe for concurrent use.
func Protect(next http.Handler, keys Keys, opts ProtectOptions) http.Handler {
	p := &protector{next: next, keys: keys, limiter: opts.Limiter, log: opts.Logger, sessions: opts.Sessions,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paystream_auth_failures_total",
			Help: "Requests refused by authentication or authorization, by reason."}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{Name: "paystream_rate_limited_total",
			Help: "Write requests refused over their key's rate."})}
	for _, reason := range []string{"missing", "unknown", "forbidden", "csrf"} {
		p.failures.WithLabelValues(reason)
	}
	if opts.Registry != nil {
		opts.Registry.MustRegister(p.failures, p.limited)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return withRequestID(p)
}

type protector struct {
	next     http.Handler
	keys     Keys
	sessions Sessions
	limiter  *access.Limiter
	log      *slog.Logger

	failures *prometheus.CounterVec // by reason
	limited  prometheus.Counter
}

func (p *protector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	who := access.Principal{}
	defer func() {
		p.log.Info("request", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", sw.status(), "key", who.Name, "role", string(who.Role), "remote", r.RemoteAddr,
			"duration_ms", time.Since(start).Milliseconds())
	}()
	open, roles := rolesFor(r.Method, r.URL.Path)
	if !open {
		var err error
		if who, err = p.authorize(r, roles); err != nil {
			if errors.Is(err, access.ErrNoCredential) || errors.Is(err, access.ErrUnknownCredential) {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="paystream"`)
			}
			writeError(sw, r, p.log, err)
			return
		}
		r = r.WithContext(access.WithPrincipal(r.Context(), who))
	}
	p.next.ServeHTTP(sw, r)
}

// authenticate finds who made r: the bearer key, or else the console's session cookie,
// whose CSRF token must come with every request that is not a read (compared in constant
// time).
func (p *protector) authenticate(r *http.Request) (access.Principal, error) {
	header := r.Header.Get("Authorization")
	if header != "" || p.sessions == nil {
		return p.keys.Authenticate(access.BearerToken(header))
	}
	who, token, err := p.sessions.Session(r)
	if err == nil && !isRead(r.Method) &&
		(token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(token)) != 1) {
		p.failures.WithLabelValues("csrf").Inc()
		p.log.Warn("csrf token refused", "request_id", requestID(r.Context()), "key", who.Name, "method", r.Method,
			"path", r.URL.Path, "remote", r.RemoteAddr)
		return who, errCSRF
	}
	if errors.Is(err, access.ErrNoCredential) {
		return p.keys.Authenticate(access.BearerToken(header)) // the same refusal as without a session
	}
	return who, err
}

// authorize authenticates r and checks its role; it counts and logs every refusal.
func (p *protector) authorize(r *http.Request, roles []access.Role) (access.Principal, error) {
	who, err := p.authenticate(r)
	if errors.Is(err, errCSRF) {
		return who, err
	}
	reason := ""
	switch {
	case errors.Is(err, access.ErrNoCredential):
		reason = "missing"
	case err != nil:
		reason = "unknown"
	}
	if err != nil {
		p.failures.WithLabelValues(reason).Inc()
		p.log.Warn("authentication failed", "request_id", requestID(r.Context()), "reason", reason, "method", r.Method,
			"path", r.URL.Path, "remote", r.RemoteAddr)
		return who, err
	}
	allowed := false
	for _, role := range roles {
		allowed = allowed || who.Role == role
	}
	if !allowed {
		p.failures.WithLabelValues("forbidden").Inc()
		p.log.Warn("authorization refused", "request_id", requestID(r.Context()), "key", who.Name, "role", string(who.Role),
			"method", r.Method, "path", r.URL.Path)
		return who, fmt.Errorf("%s (%s): %w", who.Name, who.Role, errForbidden)
	}
	if !isRead(r.Method) {
		if ok, wait := p.limiter.Allow(who.Name); !ok {
			p.limited.Inc()
			p.log.Warn("rate limited", "request_id", requestID(r.Context()), "key", who.Name, "path", r.URL.Path)
			return who, &rateLimited{wait: wait}
		}
	}
	return who, nil
}

// statusWriter remembers the status written; Unwrap lets http.ResponseController reach
// the connection (long operator requests lift their write deadline).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// actorOf is who authenticated the request: the name of its key ("" on open routes).
func actorOf(ctx context.Context) string {
	p, _ := access.PrincipalFrom(ctx)
	return p.Name
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
