package books_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/wallet"
)

var _ = Describe("Compare", func() {
	d := decimal.RequireFromString
	totals := books.Totals{Approved: map[string]decimal.Decimal{"s1": d("3000"), "s2": d("500")},
		Refunded: map[string]decimal.Decimal{"s1": d("1000")}, Unallocated: d("200"), Position: 42}
	ledgerOf := func(s1Debits, unallocated string) []ledger.Balance {
		return []ledger.Balance{
			{Account: ledger.AccountPSPReceivable, Debits: d("3500"), Credits: d("1200")},
			{Account: ledger.SellerPayable("s1"), Debits: d(s1Debits), Credits: d("3000")},
			{Account: ledger.SellerPayable("s2"), Debits: d("0"), Credits: d("500")},
			{Account: ledger.AccountRefundsUnallocated, Debits: d(unallocated), Credits: d("0")},
		}
	}
	wallets := []wallet.Balance{{SellerID: "s1", Amount: d("2000")}, {SellerID: "s2", Amount: d("500")}}

	It("finds no difference when the ledger and the wallets follow the streams, an unallocated refund included", func() {
		r := books.Compare(totals, ledgerOf("1000", "200"), wallets)
		Expect(r.Differences).To(BeZero())
		Expect(r.Sellers).To(HaveLen(2))
		Expect(r.Sellers[0].SellerID).To(Equal("s1"))
		Expect(r.Sellers[0].Expected.String()).To(Equal("2000"))
		Expect([]string{r.Total.Approved.String(), r.Total.Refunded.String(), r.Total.Expected.String(), r.Total.Ledger.String(),
			r.Total.Wallet.String()}).To(Equal([]string{"3500", "1200", "2300", "2300", "2300"}))
		Expect(r.Position).To(BeEquivalentTo(42))
	})

	It("takes the approvals a deposit error withdrew off what the ledger and the wallets should hold", func() {
		withdrawn := books.Totals{Approved: map[string]decimal.Decimal{"s1": d("6000"), "s2": d("500")},
			Refunded: map[string]decimal.Decimal{"s1": d("1000")}, Withdrawn: map[string]decimal.Decimal{"s1": d("3000")},
			Unallocated: d("200")}
		r := books.Compare(withdrawn, ledgerOf("1000", "200"), wallets)
		Expect(r.Sellers[0].Withdrawn.String()).To(Equal("3000"))
		Expect(r.Sellers[0].Expected.String()).To(Equal("2000"))
		Expect(r.Total.Withdrawn.String()).To(Equal("3000"))
		Expect(r.Total.Expected.String()).To(Equal("2300"))
		Expect(r.Differences).To(BeZero(), "%+v", r)
		r = books.Compare(withdrawn, []ledger.Balance{{Account: ledger.SellerPayable("s1"), Debits: d("1000"), Credits: d("6000")},
			{Account: ledger.SellerPayable("s2"), Credits: d("500")}, {Account: ledger.AccountRefundsUnallocated, Debits: d("200")}}, wallets)
		Expect(r.Sellers[0].Difference).To(BeTrue(), "a withdrawal the ledger has not taken back")
	})

	It("names the seller the ledger disagrees about, and an unallocated refund the ledger lacks", func() {
		r := books.Compare(totals, ledgerOf("0", "0"), wallets)
		Expect(r.Sellers[0].Difference).To(BeTrue())
		Expect(r.Sellers[1].Difference).To(BeFalse())
		Expect(r.Unallocated.Difference).To(BeTrue())
		Expect(r.Total.Difference).To(BeTrue())
		Expect(r.Differences).To(Equal(3))
	})
})
