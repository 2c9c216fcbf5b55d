package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/httpapi"
)

// The keys specs call the API with: one per role.
var (
	merchantToken, operatorToken, auditorToken = access.NewToken(), access.NewToken(), access.NewToken()
	testKeys                                   = access.NewKeyring([]access.Key{
		{Name: "shop", Role: access.Merchant, Hash: access.HashOf(merchantToken)},
		{Name: "ops:kim", Role: access.Operator, Hash: access.HashOf(operatorToken)},
		{Name: "auditor:lee", Role: access.Auditor, Hash: access.HashOf(auditorToken)},
	})
)

// tokenFor is the key of the role that may call the route: operator for /admin and
// /metrics, auditor for /audit, merchant otherwise.
func tokenFor(path string) access.Token {
	switch {
	case strings.HasPrefix(path, "/admin/"), path == "/metrics":
		return operatorToken
	case strings.HasPrefix(path, "/audit/"):
		return auditorToken
	}
	return merchantToken
}

// protected is h as paymentd serves it: behind the API keys.
func protected(h http.Handler) http.Handler {
	return httpapi.Protect(h, testKeys, httpapi.ProtectOptions{})
}

func newJSONLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
