package main

import (
	"bytes"
	"context"
	"net/http/httptest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/httpapi"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/wallet"
)

// figures are the books' three sources, as paymentd's in-process ledger and wallets give them.
type figures struct {
	totals  books.Totals
	ledger  []ledger.Balance
	wallets []wallet.Balance
}

func (f figures) Totals(context.Context) (books.Totals, error)             { return f.totals, nil }
func (f figures) Balances(context.Context) ([]ledger.Balance, error)       { return f.ledger, nil }
func (f figures) walletSide() walletFigures                                { return walletFigures(f.wallets) }
func (w walletFigures) Balances(context.Context) ([]wallet.Balance, error) { return w, nil }

type walletFigures []wallet.Balance

var _ = Describe("paymentctl books", func() {
	d := decimal.RequireFromString
	var (
		f              figures
		stdout, stderr *bytes.Buffer
	)
	serve := func(b httpapi.Books) string {
		srv := httptest.NewServer(requireKey(httpapi.NewHandler(nil, httpapi.Options{Books: b})))
		DeferCleanup(srv.Close)
		return srv.URL
	}
	BeforeEach(func() {
		stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
		f = figures{
			totals: books.Totals{Approved: map[string]decimal.Decimal{"s1": d("3000"), "s2": d("500")},
				Refunded: map[string]decimal.Decimal{"s1": d("1000")}, Position: 17},
			ledger: []ledger.Balance{{Account: ledger.SellerPayable("s1"), Debits: d("1000"), Credits: d("3000")},
				{Account: ledger.SellerPayable("s2"), Credits: d("500")}},
			wallets: []wallet.Balance{{SellerID: "s1", Amount: d("2000")}, {SellerID: "s2", Amount: d("500")}},
		}
	})

	It("prints each seller's figures and exits 0 when the books tie out", func(ctx SpecContext) {
		url := serve(books.New(f, f, f.walletSide()))
		Expect(run(ctx, []string{"-url", url, "books"}, withKey, stdout, stderr)).To(Equal(0), stderr.String())
		Expect(stdout.String()).To(MatchRegexp(`s1\s+3000\s+1000\s+0\s+2000\s+2000\s+2000`))
		Expect(stdout.String()).To(MatchRegexp(`total\s+3500\s+1000\s+0\s+2500\s+2500\s+2500`))
		Expect(stdout.String()).To(ContainSubstring("the books tie out"))
	})

	It("shows approvals the PSP withdrew (deposit errors) in their own column", func(ctx SpecContext) {
		f.totals.Withdrawn = map[string]decimal.Decimal{"s2": d("500")}
		f.ledger[1].Debits = d("500")
		f.wallets[1].Amount = d("0")
		url := serve(books.New(f, f, f.walletSide()))
		Expect(run(ctx, []string{"-url", url, "books"}, withKey, stdout, stderr)).To(Equal(0), stderr.String())
		Expect(stdout.String()).To(MatchRegexp(`s2\s+500\s+0\s+500\s+0\s+0\s+0`))
		Expect(stdout.String()).To(MatchRegexp(`total\s+3500\s+1000\s+500\s+2000\s+2000\s+2000`))
	})

	It("marks the seller whose wallet differs and exits 1", func(ctx SpecContext) {
		f.wallets[1].Amount = d("400")
		url := serve(books.New(f, f, f.walletSide()))
		Expect(run(ctx, []string{"-url", url, "books"}, withKey, stdout, stderr)).To(Equal(1))
		Expect(stdout.String()).To(MatchRegexp(`s2\s+500\s+0\s+0\s+500\s+500\s+400\s+DIFFERENT`))
		Expect(stderr.String()).To(ContainSubstring("2 line(s) differ"))
	})

	It("exits 1 when paymentd has no view of the ledger and wallets (501)", func(ctx SpecContext) {
		url := serve(nil)
		Expect(run(ctx, []string{"-url", url, "books"}, withKey, stdout, stderr)).To(Equal(1))
		Expect(stderr.String()).To(ContainSubstring("HTTP 501"))
	})
})
