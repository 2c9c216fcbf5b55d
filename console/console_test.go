package console_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/console"
)

var (
	operatorKey, auditorKey, merchantKey = access.NewToken(), access.NewToken(), access.NewToken()
)

func keyring() *access.Keyring {
	return access.NewKeyring([]access.Key{
		{Name: "ops:kim", Role: access.Operator, Hash: access.HashOf(operatorKey)},
		{Name: "auditor:lee", Role: access.Auditor, Hash: access.HashOf(auditorKey)},
		{Name: "shop", Role: access.Merchant, Hash: access.HashOf(merchantKey)},
	})
}

// clock is a movable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var _ = Describe("the console", func() {
	var (
		keys     *access.Keyring
		now      *clock
		sessions *console.Sessions
		h        http.Handler
	)
	BeforeEach(func() {
		keys, now = keyring(), &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		sessions = console.NewSessions(keys, console.SessionOptions{IdleTimeout: 30 * time.Minute, MaxAge: 8 * time.Hour, Now: now.Now})
		h = console.Handler(sessions, console.Options{})
	})

	signIn := func(key access.Token, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/console/session", strings.NewReader(`{"key":"`+key.Reveal()+`"}`))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	withCookie := func(method, path string, c *http.Cookie, csrf string) *http.Request {
		req := httptest.NewRequest(method, path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		return req
	}
	type begun struct {
		Name, Role, CSRFToken string
	}
	session := func(rec *httptest.ResponseRecorder) (*http.Cookie, begun) {
		GinkgoHelper()
		Expect(rec.Code).To(Equal(http.StatusCreated), rec.Body.String())
		var b begun
		Expect(json.Unmarshal(rec.Body.Bytes(), &b)).To(Succeed())
		cookies := rec.Result().Cookies()
		Expect(cookies).To(HaveLen(1))
		return cookies[0], b
	}

	It("serves its page with a Content-Security-Policy of its own assets only", func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/", nil))
		Expect(rec.Code).To(Equal(http.StatusOK))
		Expect(rec.Body.String()).To(ContainSubstring(`<script type="module" src="/console/js/app.js">`))
		Expect(rec.Header().Get("Content-Security-Policy")).To(Equal(console.ContentSecurityPolicy))
		Expect(console.ContentSecurityPolicy).To(HavePrefix("default-src 'self'; script-src 'self'; style-src 'self';"))
		Expect(rec.Header().Get("X-Frame-Options")).To(Equal("DENY"))
		for _, asset := range []string{"/console/js/app.js", "/console/console.css", "/console/js/pages/payment.js"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, asset, nil))
			Expect(rec.Code).To(Equal(http.StatusOK), asset)
			Expect(rec.Header().Get("Content-Security-Policy")).NotTo(BeEmpty())
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/js/nope.js", nil))
		Expect(rec.Code).To(Equal(http.StatusNotFound))
	})

	It("exchanges a key for an HttpOnly, SameSite=Strict session cookie, Secure behind TLS", func() {
		c, b := session(signIn(operatorKey))
		Expect(c.Name).To(Equal(console.CookieName))
		Expect(c.HttpOnly).To(BeTrue())
		Expect(c.SameSite).To(Equal(http.SameSiteStrictMode))
		Expect(c.Secure).To(BeFalse(), "plain HTTP on the loopback")
		Expect(c.Path).To(Equal("/"))
		Expect(c.Value).NotTo(ContainSubstring(operatorKey.Reveal()))
		Expect(b.Name).To(Equal("ops:kim"))
		Expect(b.Role).To(Equal("operator"))
		Expect(b.CSRFToken).To(HaveLen(43))

		who, csrf, err := sessions.Session(withCookie(http.MethodGet, "/v1/payments", c, ""))
		Expect(err).NotTo(HaveOccurred())
		Expect(who).To(Equal(access.Principal{Name: "ops:kim", Role: access.Operator}))
		Expect(csrf).To(Equal(b.CSRFToken))

		c, _ = session(signIn(auditorKey, "X-Forwarded-Proto", "https"))
		Expect(c.Secure).To(BeTrue())
	})

	It("refuses a wrong key, a merchant's key, and a sign-in from another site", func() {
		Expect(signIn(access.NewToken()).Code).To(Equal(http.StatusUnauthorized))
		Expect(signIn(merchantKey).Code).To(Equal(http.StatusForbidden))
		Expect(sessions.Len()).To(BeZero())
		Expect(signIn(operatorKey, "Origin", "https://evil.example").Code).To(Equal(http.StatusForbidden))
		Expect(signIn(operatorKey, "Sec-Fetch-Site", "cross-site").Code).To(Equal(http.StatusForbidden))
		req := httptest.NewRequest(http.MethodPost, "/console/session", strings.NewReader("key="+operatorKey.Reveal()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		Expect(rec.Code).To(Equal(http.StatusBadRequest), "JSON only")
	})

	It("ends a session after its idle timeout, after its maximum age, and when its key is removed", func() {
		c, _ := session(signIn(operatorKey))
		now.Advance(29 * time.Minute)
		_, _, err := sessions.Session(withCookie(http.MethodGet, "/", c, ""))
		Expect(err).NotTo(HaveOccurred())
		now.Advance(31 * time.Minute)
		_, _, err = sessions.Session(withCookie(http.MethodGet, "/", c, ""))
		Expect(errors.Is(err, access.ErrUnknownCredential)).To(BeTrue())

		c, _ = session(signIn(operatorKey))
		for range 17 {
			now.Advance(29 * time.Minute) // used, but never for longer than 8 hours
			_, _, err = sessions.Session(withCookie(http.MethodGet, "/", c, ""))
		}
		Expect(errors.Is(err, access.ErrUnknownCredential)).To(BeTrue())

		c, _ = session(signIn(auditorKey))
		keys.Replace([]access.Key{{Name: "ops:kim", Role: access.Operator, Hash: access.HashOf(operatorKey)}})
		_, _, err = sessions.Session(withCookie(http.MethodGet, "/", c, ""))
		Expect(errors.Is(err, access.ErrUnknownCredential)).To(BeTrue())

		_, _, err = sessions.Session(withCookie(http.MethodGet, "/", nil, ""))
		Expect(errors.Is(err, access.ErrNoCredential)).To(BeTrue())
	})

	It("says who is signed in, and signs out only with the CSRF token", func() {
		c, b := session(signIn(auditorKey))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withCookie(http.MethodGet, "/console/session", c, ""))
		Expect(rec.Code).To(Equal(http.StatusOK))
		Expect(rec.Body.String()).To(ContainSubstring(`"role":"auditor"`))

		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, withCookie(http.MethodDelete, "/console/session", c, "wrong"))
		Expect(rec.Code).To(Equal(http.StatusForbidden))
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, withCookie(http.MethodDelete, "/console/session", c, b.CSRFToken))
		Expect(rec.Code).To(Equal(http.StatusNoContent))
		Expect(rec.Result().Cookies()[0].MaxAge).To(BeNumerically("<", 0))
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, withCookie(http.MethodGet, "/console/session", c, ""))
		Expect(rec.Code).To(Equal(http.StatusUnauthorized))
	})
})
