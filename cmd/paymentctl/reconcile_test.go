package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentctl reconcile", func() {
	var (
		srv            *httptest.Server
		stdout, stderr *bytes.Buffer
		report         string
	)
	const clean = `{"runId":"20260102-20260102-2","stream":"reconciliation-20260102-20260102-2","mismatches":[],"completed":{"transactions":3,"payments":2,"matched":3,"settlements":3,"byClass":{},"new":0,"fixed":0,"tiesOut":true,"totals":{"approved":"110000","refunded":"12500","settled":"97500","fees":"3315","vat":"331","payOut":"93854"}}}`
	const needsPerson = `{"runId":"20260102-20260102-1","stream":"reconciliation-20260102-20260102-1","mismatches":[
		{"kind":"cancel-not-recorded","class":"auto-fixable","orderId":"order-1","tossAmount":"12500","detail":"cancelled at Toss","firstFoundIn":"20260102-20260102-1","fix":{"command":"RecordExternalRefunds","fixed":true,"outcome":"recorded 1 external refunds"}},
		{"kind":"amount-differs","class":"needs-person","orderId":"order-2","tossAmount":"150000","ourAmount":"159000","detail":"Toss approved 150000 KRW","firstFoundIn":"20260102-20260102-1"}],
		"completed":{"transactions":3,"payments":2,"matched":1,"settlements":3,"byClass":{"auto-fixable":1,"needs-person":1},"new":2,"fixed":1,"tiesOut":false,"totals":{}}}`
	BeforeEach(func() {
		stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
		report = clean
		mux := http.NewServeMux()
		mux.HandleFunc("POST /admin/v1/reconciliation/runs", func(w http.ResponseWriter, r *http.Request) {
			Expect(r.URL.Query().Get("from")).To(Equal("2026-01-02"))
			Expect(r.URL.Query().Get("to")).To(Equal("2026-01-02"))
			fmt.Fprint(w, `{"progress":{"phase":"transactions","Done":3,"Of":0}}`+"\n"+`{"progress":{"phase":"payments","Done":5,"Of":5}}`+"\n")
			var line bytes.Buffer
			Expect(json.Compact(&line, []byte(`{"report":`+report+`}`))).To(Succeed())
			fmt.Fprintf(w, "%s\n", line.Bytes())
		})
		mux.HandleFunc("GET /admin/v1/reconciliation/report", func(w http.ResponseWriter, r *http.Request) {
			Expect(r.URL.Query().Get("format")).To(Equal("csv"))
			fmt.Fprint(w, "period,run,record\n20260102-20260102,2,settlement\n")
		})
		srv = httptest.NewServer(requireKey(mux))
		DeferCleanup(srv.Close)
	})

	It("shows a progress bar and a summary table, writes the CSV, and exits 0 when nothing needs a person", func(ctx SpecContext) {
		file := filepath.Join(GinkgoT().TempDir(), "report.csv")
		Expect(run(ctx, []string{"-url", srv.URL, "reconcile", "-from", "2026-01-02", "-csv", file}, withKey, stdout, stderr)).To(Equal(0), stderr.String())
		Expect(stderr.String()).To(ContainSubstring("[##############################] 100% done"))
		Expect(stderr.String()).To(ContainSubstring("payments     5/5"))
		Expect(stdout.String()).To(MatchRegexp(`matched\s+3`))
		Expect(stdout.String()).To(MatchRegexp(`needs-person\s+0`))
		Expect(stdout.String()).To(MatchRegexp(`ties out\s+true`))
		Expect(stdout.String()).To(ContainSubstring("settled 97500"))
		csv, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(csv)).To(HavePrefix("period,run,record\n"))
	})

	It("lists the open mismatches and exits 1 when one needs a person", func(ctx SpecContext) {
		report = needsPerson
		Expect(run(ctx, []string{"-url", srv.URL, "reconcile", "-from", "2026-01-02", "-to", "2026-01-02"}, withKey, stdout, stderr)).To(Equal(1))
		Expect(stdout.String()).To(MatchRegexp(`needs-person\s+amount-differs\s+order-2\s+150000\s+159000`))
		Expect(stdout.String()).NotTo(ContainSubstring("order-1  "), "the fixed one is not open")
		Expect(stderr.String()).To(ContainSubstring("1 need a person"))
	})

	It("needs -from", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "reconcile"}, withKey, stdout, stderr)).To(Equal(2))
		Expect(stderr.String()).To(ContainSubstring("usage: paymentctl reconcile -from"))
	})
})
