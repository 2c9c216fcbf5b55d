package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/paystream/paystream/books"
)

// Books gives the tie-out of the payment streams against the ledger and the wallets
// (*books.Books).
type Books interface {
	Report(ctx context.Context) (books.Report, error)
}

// booksReport serves GET /admin/v1/books: per seller approved − refunded from the payment
// streams beside the ledger's and the wallet's balances, and the differences. 501 when no
// Books is configured.
func booksReport(b Books, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if b == nil {
			writeProblem(w, Problem{Type: problemBase + "no-books", Title: "The ledger's and the wallets' figures are not available here",
				Status: http.StatusNotImplemented})
			return
		}
		report, err := b.Report(r.Context())
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if report.Sellers == nil {
			report.Sellers = []books.Seller{}
		}
		writeJSON(w, http.StatusOK, report)
	}
}
