package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/v1"

	"github.com/gorilla/mux"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/httpapi"
)

// who may call each route: "open", or the roles allowed (the others get 403).
var routeRoles = map[string][]access.Role{
	"POST /v1/checkout":                                             {access.Merchant},
	"POST /v1/payments/confirm":                                     {access.Merchant},
	"POST /v1/payments/{orderId}/cancel":                            {access.Merchant},
	"GET /v1/payments":                                              {access.Merchant, access.Auditor, access.Operator},
	"GET /v1/payments/{orderId}":                                    {access.Merchant, access.Auditor, access.Operator},
	"GET /v1/payments/{orderId}/events":                             {access.Merchant, access.Auditor, access.Operator},
	"GET /admin/v1/payments/attention":                              {access.Operator},
	"GET /admin/v1/books":                                           {access.Operator},
	"POST /admin/v1/payments/{orderId}/resolve":                     {access.Operator},
	"POST /admin/v1/payments/{orderId}/refunds/{refundId}/allocate": {access.Operator},
	"POST /admin/v1/payments/{orderId}/refunds/{refundId}/resolve":  {access.Operator},
	"POST /admin/v1/reconciliation/runs":                            {access.Operator},
	"GET /admin/v1/reconciliation/mismatches":                       {access.Operator},
	"GET /admin/v1/reconciliation/report":                           {access.Operator},
	"GET /metrics":                                                  {access.Operator},
	// served by paymentd next to this router (cmd/paymentd/readmodel.go)
	"GET /admin/v1/readmodel/status":   {access.Operator},
	"POST /admin/v1/readmodel/verify":  {access.Operator},
	"POST /admin/v1/readmodel/rebuild": {access.Operator},
	// open
	"GET /healthz":           nil,
	"GET /readyz":            nil,
	"GET /openapi.yaml":      nil,
	"POST /v1/webhooks/toss": nil,
	// the console (paymentd mounts it next to this router): its pages and its sign-in
	"GET /console/":           nil,
	"GET /console/app.js":     nil,
	"POST /console/session":   nil,
	"GET /console/session":    nil,
	"DELETE /console/session": nil,
}

// auditRoutes are the auditor's (audit.go); operators also read one payment's history
// there (the console's timeline and as-of), the rest under /audit is the auditor's alone.
func init() {
	for _, r := range []string{"GET /audit/v1/payments/{orderId}", "GET /audit/v1/payments/{orderId}/timeline",
		"GET /audit/v1/payments/{orderId}/verify"} {
		routeRoles[r] = []access.Role{access.Auditor, access.Operator}
	}
	for _, r := range []string{"GET /audit/v1/verify", "GET /audit/v1/anchors/latest",
		"GET /audit/v1/export/events", "GET /audit/v1/export/payments"} {
		routeRoles[r] = []access.Role{access.Auditor}
	}
}

// fakeSessions knows one console session per role: cookie value "session-<role>", CSRF
// token "csrf-<role>".
type fakeSessions struct{}

func (fakeSessions) Session(r *http.Request) (access.Principal, string, error) {
	c, err := r.Cookie("paystream_session")
	if err != nil {
		return access.Principal{}, "", access.ErrNoCredential
	}
	for _, role := range access.Roles {
		if c.Value == "session-"+string(role) {
			return access.Principal{Name: "console:" + string(role), Role: role}, "csrf-" + string(role), nil
		}
	}
	return access.Principal{}, "", access.ErrUnknownCredential
}

var _ = Describe("who may call what", func() {
	var (
		h    http.Handler
		logs *bytes.Buffer
	)
	BeforeEach(func() {
		logs = &bytes.Buffer{}
		registry := prometheus.NewRegistry() // /metrics shows Protect's counters too
		api := httpapi.NewHandler(&fakePayments{}, httpapi.Options{Hints: &fakeHints{}, Registry: registry})
		next := http.NewServeMux() // as paymentd mounts its read-model operations
		next.Handle("/", api)
		next.HandleFunc("/admin/v1/readmodel/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		next.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		h = httpapi.Protect(next, testKeys, httpapi.ProtectOptions{Logger: newJSONLogger(logs),
			Limiter: access.NewLimiter(access.Rate{PerSecond: 0.001, Burst: 1000}, nil), Registry: registry, Sessions: fakeSessions{}})
	})

	call := func(route string, token access.Token) *httptest.ResponseRecorder {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{orderId}", "order-0001", "{refundId}", "order-0001-r1").Replace(path)
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token.Reveal())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	refused := func(rec *httptest.ResponseRecorder, status int, typ string) {
		ExpectWithOffset(1, rec.Code).To(Equal(status), rec.Body.String())
		ExpectWithOffset(1, rec.Header().Get("Content-Type")).To(Equal("application/problem+json"))
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		ExpectWithOffset(1, json.Unmarshal(rec.Body.Bytes(), &p)).To(Succeed())
		ExpectWithOffset(1, p.Type).To(Equal("urn:paystream:problem:" + typ))
	}

	It("has an entry in the table for every route the handler serves", func() {
		router := httpapi.NewHandler(nil, httpapi.Options{}).(*mux.Router)
		Expect(router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			path, _ := route.GetPathTemplate()
			methods, _ := route.GetMethods()
			for _, m := range methods {
				Expect(routeRoles).To(HaveKey(m+" "+path), "add the route to routeRoles")
			}
			return nil
		})).To(Succeed())
	})

	tokens := map[access.Role]access.Token{access.Merchant: merchantToken, access.Operator: operatorToken, access.Auditor: auditorToken}
	for route, roles := range routeRoles {
		It(route+": no key, a wrong key, and each role", func() {
			if roles == nil {
				Expect(call(route, "").Code).NotTo(BeElementOf(401, 403), "open")
				return
			}
			refused(call(route, ""), 401, "unauthenticated")
			refused(call(route, access.NewToken()), 401, "unauthenticated")
			refused(call(route, access.Token("Basic "+merchantToken.Reveal())), 401, "unauthenticated")
			for _, role := range access.Roles {
				rec := call(route, tokens[role])
				if slices.Contains(roles, role) {
					Expect(rec.Code).NotTo(BeElementOf(401, 403, 429), "%s may call %s: %s", role, route, rec.Body)
				} else {
					refused(rec, 403, "forbidden")
				}
			}
		})
	}

	Describe("the console's session cookie", func() {
		withSession := func(route, cookie, csrf string) *httptest.ResponseRecorder {
			method, path, _ := strings.Cut(route, " ")
			path = strings.NewReplacer("{orderId}", "order-0001", "{refundId}", "order-0001-r1").Replace(path)
			req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(&http.Cookie{Name: "paystream_session", Value: cookie})
			if csrf != "" {
				req.Header.Set(httpapi.CSRFHeader, csrf)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}

		It("authenticates as the key that signed in, with that key's role", func() {
			Expect(withSession("GET /admin/v1/payments/attention", "session-operator", "").Code).NotTo(BeElementOf(401, 403))
			refused(withSession("GET /admin/v1/payments/attention", "session-auditor", ""), 403, "forbidden")
			Expect(withSession("GET /audit/v1/payments/{orderId}/timeline", "session-operator", "").Code).NotTo(BeElementOf(401, 403))
			refused(withSession("GET /v1/payments", "session-expired", ""), 401, "unauthenticated")
		})

		It("refuses a state-changing call without the session's CSRF token, compared exactly", func() {
			route := "POST /admin/v1/payments/{orderId}/resolve"
			refused(withSession(route, "session-operator", ""), 403, "forbidden")
			refused(withSession(route, "session-operator", "csrf-auditor"), 403, "forbidden")
			refused(withSession(route, "session-operator", "csrf-operato"), 403, "forbidden")
			Expect(withSession(route, "session-operator", "csrf-operator").Code).NotTo(BeElementOf(401, 403, 429))
			refused(withSession(route, "session-auditor", "csrf-auditor"), 403, "forbidden")
			Expect(logs.String()).To(ContainSubstring(`"msg":"csrf token refused"`))
			metrics := call("GET /metrics", operatorToken).Body.String()
			Expect(metrics).To(ContainSubstring(`paystream_auth_failures_total{reason="csrf"} 3`))
		})

		It("lets a bearer key decide when both come", func() {
			method, path := http.MethodGet, "/admin/v1/payments/attention"
			req := httptest.NewRequest(method, path, nil)
			req.AddCookie(&http.Cookie{Name: "paystream_session", Value: "session-operator"})
			req.Header.Set("Authorization", "Bearer "+auditorToken.Reveal())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			refused(rec, 403, "forbidden")
		})
	})

	It("answers unknown routes only to a key", func() {
		refused(call("GET /nope", ""), 401, "unauthenticated")
		Expect(call("GET /nope", merchantToken).Code).To(Equal(404))
	})

	It("counts and logs failed authentications without the key", func() {
		wrong := access.NewToken()
		call("GET /v1/payments/{orderId}", wrong)
		call("GET /v1/payments/{orderId}", "")
		call("GET /admin/v1/payments/attention", merchantToken)
		Expect(logs.String()).To(ContainSubstring(`"msg":"authentication failed"`))
		Expect(logs.String()).To(ContainSubstring(`"msg":"authorization refused"`))
		Expect(logs.String()).NotTo(ContainSubstring(wrong.Reveal()))
		Expect(logs.String()).NotTo(ContainSubstring(merchantToken.Reveal()))
		metrics := call("GET /metrics", operatorToken).Body.String()
		Expect(metrics).To(ContainSubstring(`paystream_auth_failures_total{reason="missing"} 1`))
		Expect(metrics).To(ContainSubstring(`paystream_auth_failures_total{reason="unknown"} 1`))
		Expect(metrics).To(ContainSubstring(`paystream_auth_failures_total{reason="forbidden"} 1`))
	})

	It("logs every request with its id and who made it", func() {
		rec := call("GET /v1/payments/{orderId}", auditorToken)
		Expect(logs.String()).To(ContainSubstring(`"msg":"request","request_id":"` + rec.Header().Get("X-Request-Id") + `"`))
		Expect(logs.String()).To(ContainSubstring(`"key":"auditor:lee","role":"auditor"`))
	})

	It("limits each key's writes, not its reads, with 429 and Retry-After", func() {
		h = httpapi.Protect(httpapi.NewHandler(&fakePayments{}, httpapi.Options{}), testKeys,
			httpapi.ProtectOptions{Limiter: access.NewLimiter(access.Rate{PerSecond: 0.5, Burst: 2}, nil)})
		Expect(call("POST /v1/checkout", merchantToken).Code).NotTo(Equal(429))
		Expect(call("POST /v1/checkout", merchantToken).Code).NotTo(Equal(429))
		rec := call("POST /v1/checkout", merchantToken)
		refused(rec, 429, "rate-limited")
		Expect(rec.Header().Get("Retry-After")).To(Equal("2"))
		Expect(call("GET /v1/payments/{orderId}", merchantToken).Code).NotTo(Equal(429))
		Expect(call("POST /admin/v1/payments/{orderId}/resolve", operatorToken).Code).NotTo(Equal(429), "per key")
	})
})
