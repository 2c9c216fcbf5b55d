package console

import (
	"crypto/subtle"
	"embed"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/access"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every console response: only paymentd's own assets
// and API ('self'); no inline script or style element, no frames, no other origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// csrfHeader is httpapi.CSRFHeader (this package does not import httpapi).
const csrfHeader = "X-CSRF-Token"

// Options configures Handler.
type Options struct {
	Logger *slog.Logger
}

// Handler serves the console under /console/: its pages (GET), and its session —
// POST /console/session signs in ({"key": "<API key>"} → the session cookie and
// {"name", "role", "csrfToken", "expiresAt"}), GET /console/session says who is signed in
// (401 when nobody), DELETE /console/session signs out (with the CSRF token). Mount it at
// /console/ behind httpapi.Protect with the same Sessions. Safe for concurrent use.
func Handler(sessions *Sessions, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h := &handler{sessions: sessions, log: log, files: http.FileServerFS(static)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /console/session", h.signIn)
	mux.HandleFunc("GET /console/session", h.who)
	mux.HandleFunc("DELETE /console/session", h.signOut)
	mux.HandleFunc("GET /console/", h.page)
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed")
	})
	return secured(mux)
}

type handler struct {
	sessions *Sessions
	log      *slog.Logger
	files    http.Handler
}

// secured sets the headers every console response carries.
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// page serves the embedded assets; /console/ is the single page (index.html).
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/console")
	if name == "/" || name == "/index.html" {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "assets/index.html")
		return
	}
	if strings.Contains(name, "..") {
		problem(w, http.StatusNotFound, "no-route", "No such page")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = &url.URL{Path: name}
	h.files.ServeHTTP(w, r2)
}

type sessionView struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CSRFToken string    `json:"csrfToken"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// signIn exchanges an API key for a session cookie. Only JSON is taken (a form on another
// site cannot send it without the browser asking first) and, when the browser says where
// the request comes from, only from this origin.
func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		problem(w, http.StatusForbidden, "cross-origin", "Sign in from the console's own page")
		return
	}
	var body struct {
		Key string `json:"key"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") ||
		json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body) != nil {
		problem(w, http.StatusBadRequest, "invalid-request", errBadSignIn.Error())
		return
	}
	begun, err := h.sessions.Begin(access.Token(strings.TrimSpace(body.Key)))
	if err != nil {
		h.log.Warn("console sign-in refused", "remote", r.RemoteAddr, "reason", reasonOf(err))
		problem(w, http.StatusUnauthorized, "unauthenticated", "The API key is not valid")
		return
	}
	if begun.Principal.Role != access.Operator && begun.Principal.Role != access.Auditor {
		h.sessions.End(withCookie(r, begun.ID))
		problem(w, http.StatusForbidden, "forbidden", "The console is for operator and auditor keys")
		return
	}
	h.log.Info("console signed in", "key", begun.Principal.Name, "role", string(begun.Principal.Role), "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: begun.ID, Path: "/", HttpOnly: true, Secure: behindTLS(r),
		SameSite: http.SameSiteStrictMode, Expires: begun.Expires})
	writeJSON(w, http.StatusCreated, sessionView{Name: begun.Principal.Name, Role: string(begun.Principal.Role),
		CSRFToken: begun.CSRFToken, ExpiresAt: begun.Expires})
}

func (h *handler) who(w http.ResponseWriter, r *http.Request) {
	who, csrf, err := h.sessions.Session(r)
	if err != nil {
		problem(w, http.StatusUnauthorized, "unauthenticated", "Not signed in")
		return
	}
	writeJSON(w, http.StatusOK, sessionView{Name: who.Name, Role: string(who.Role), CSRFToken: csrf})
}

// signOut ends the session and clears the cookie; it needs the session's CSRF token, as
// every state-changing call with the cookie does.
func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	who, csrf, err := h.sessions.Session(r)
	if err == nil {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(csrf)) != 1 {
			problem(w, http.StatusForbidden, "forbidden", "missing or wrong "+csrfHeader+" header for this session")
			return
		}
		h.sessions.End(r)
		h.log.Info("console signed out", "key", who.Name)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: behindTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// withCookie is r carrying the session cookie id.
func withCookie(r *http.Request, id string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Header.Del("Cookie")
	r2.AddCookie(&http.Cookie{Name: CookieName, Value: id})
	return r2
}

// behindTLS: the browser reached us over TLS, directly or through a proxy that says so.
func behindTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin is false only when the browser names an origin that is not this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func reasonOf(err error) string {
	if errors.Is(err, access.ErrNoCredential) {
		return "missing"
	}
	return "unknown"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// problem answers as paystream's API does (RFC 9457 problem+json).
func problem(w http.ResponseWriter, status int, typ, title string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:paystream:problem:" + typ, "title": title, "status": status})
}
