package httpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/httpapi"
	"github.com/paystream/paystream/reconcile"
)

// fakeReconciler answers with a canned report.
type fakeReconciler struct {
	ran       []reconcile.Period
	startedBy string
	report    reconcile.Report
	runErr    error
	hasRun    bool
}

func (f *fakeReconciler) Run(_ context.Context, p reconcile.Period, startedBy string, progress func(reconcile.Progress)) (reconcile.Report, error) {
	f.ran, f.startedBy = append(f.ran, p), startedBy
	for i := 1; i <= 3; i++ {
		progress(reconcile.Progress{Phase: "payments", Done: i, Of: 3})
	}
	return f.report, f.runErr
}

func (f *fakeReconciler) Open(context.Context) ([]reconcile.Mismatch, error) {
	return f.report.Mismatches, nil
}

func (f *fakeReconciler) Latest(_ context.Context, p reconcile.Period) (reconcile.Report, error) {
	if !f.hasRun {
		return reconcile.Report{}, reconcile.ErrNoRun
	}
	return f.report, nil
}

func (f *fakeReconciler) Stats() reconcile.Stats {
	return reconcile.Stats{Runs: 2, Fixed: 1, New: map[reconcile.Class]int64{reconcile.AutoFixable: 1, reconcile.NeedsPerson: 3}}
}

var _ = Describe("Reconciliation routes", func() {
	var (
		fake *fakeReconciler
		h    http.Handler
	)
	BeforeEach(func() {
		tossAmount, ourAmount := decimal.NewFromInt(150000), decimal.NewFromInt(159000)
		period, _ := reconcile.ParsePeriod("2026-01-02", "2026-01-02")
		fake = &fakeReconciler{report: reconcile.Report{RunID: "20260102-20260102-1", Period: period, Run: 1,
			Mismatches: []reconcile.Mismatch{{MismatchFound: reconcile.MismatchFound{ID: "amount-differs:tk1", Kind: reconcile.AmountDiffers,
				Class: reconcile.NeedsPerson, OrderID: "order-0001", TransactionKey: "tk1", TossAmount: &tossAmount, OurAmount: &ourAmount,
				Detail: "differs", FirstFoundIn: "20260102-20260102-1"}}},
			Settlements: []reconcile.SettlementRecorded{{OrderID: "order-0002", TransactionKey: "tk2", Amount: decimal.NewFromInt(36000),
				Fee: decimal.NewFromInt(1224), VAT: decimal.NewFromInt(122), PayOut: decimal.NewFromInt(34654), SoldDate: "2026-01-02",
				PaidOutDate: "2026-01-06"}}}}
		h = httpapi.Protect(httpapi.NewHandler(&fakePayments{}, httpapi.Options{Reconciliations: fake}), testKeys, httpapi.ProtectOptions{})
	})
	call := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+operatorToken.Reveal())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	It("runs a period on demand, streaming progress then the report, started by the operator's key", func() {
		rec := call(http.MethodPost, "/admin/v1/reconciliation/runs?from=2026-01-02")
		Expect(rec.Code).To(Equal(http.StatusOK))
		Expect(rec.Header().Get("Content-Type")).To(Equal("application/x-ndjson"))
		var lines []map[string]json.RawMessage
		sc := bufio.NewScanner(rec.Body)
		for sc.Scan() {
			var l map[string]json.RawMessage
			Expect(json.Unmarshal(sc.Bytes(), &l)).To(Succeed())
			lines = append(lines, l)
		}
		Expect(lines[0]).To(HaveKey("progress"))
		Expect(lines[len(lines)-1]).To(HaveKey("report"))
		Expect(string(lines[len(lines)-1]["report"])).To(ContainSubstring(`"kind":"amount-differs"`))
		Expect(fake.ran).To(Equal([]reconcile.Period{{First: "2026-01-02", Last: "2026-01-02"}}))
		Expect(fake.startedBy).To(Equal("ops:kim"))
	})

	It("refuses a malformed period before running anything", func() {
		rec := call(http.MethodPost, "/admin/v1/reconciliation/runs?from=2026-01-09&to=2026-01-02")
		Expect(rec.Code).To(Equal(http.StatusBadRequest))
		Expect(rec.Body.String()).To(ContainSubstring("before"))
		Expect(fake.ran).To(BeEmpty())
	})

	It("lists open mismatches", func() {
		rec := call(http.MethodGet, "/admin/v1/reconciliation/mismatches")
		Expect(rec.Code).To(Equal(http.StatusOK))
		var body struct {
			Mismatches []struct {
				ID, Class, TossAmount, OurAmount string
			} `json:"mismatches"`
		}
		Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
		Expect(body.Mismatches).To(HaveLen(1))
		Expect(body.Mismatches[0].Class).To(Equal("needs-person"))
	})

	It("exports a period's report as CSV, and answers 404 for a period never reconciled", func() {
		Expect(call(http.MethodGet, "/admin/v1/reconciliation/report?from=2026-01-02").Code).To(Equal(http.StatusNotFound))
		fake.hasRun = true
		rec := call(http.MethodGet, "/admin/v1/reconciliation/report?from=2026-01-02&format=csv")
		Expect(rec.Code).To(Equal(http.StatusOK))
		Expect(rec.Header().Get("Content-Type")).To(HavePrefix("text/csv"))
		Expect(rec.Header().Get("Content-Disposition")).To(ContainSubstring("reconciliation-20260102-20260102-1.csv"))
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		Expect(lines).To(HaveLen(3))
		Expect(lines[1]).To(ContainSubstring("amount-differs,needs-person,true,order-0001"))
		Expect(lines[2]).To(ContainSubstring("settlement,approval"))
		Expect(lines[2]).To(ContainSubstring("1224,122,34654,2026-01-02,2026-01-06"))
	})

	It("counts mismatches by class on /metrics", func() {
		body := call(http.MethodGet, "/metrics").Body.String()
		Expect(body).To(ContainSubstring(`paystream_reconciliation_mismatches_total{class="needs-person"} 3`))
		Expect(body).To(ContainSubstring(`paystream_reconciliation_mismatches_total{class="unclassifiable"} 0`))
		Expect(body).To(ContainSubstring("paystream_reconciliation_fixed_total 1"))
	})

	It("answers 503 where no reconciler runs", func() {
		h = httpapi.Protect(httpapi.NewHandler(&fakePayments{}, httpapi.Options{}), testKeys, httpapi.ProtectOptions{})
		Expect(call(http.MethodGet, "/admin/v1/reconciliation/mismatches").Code).To(Equal(http.StatusServiceUnavailable))
	})
})
