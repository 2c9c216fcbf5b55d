package aggregate_test

import (
	"math"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	. "github.com/paystream/paystream/aggregate"
)

// line prices quantity units of a product at price KRW.
func line(quantity int64, price string) OrderLine {
	return OrderLine{ProductID: "p", SellerID: "s", Quantity: quantity, UnitPrice: d(price),
		Amount: d(price).Mul(decimal.NewFromInt(quantity))}
}

func linesOf(n int, l OrderLine) []OrderLine {
	out := make([]OrderLine, n)
	for i := range out {
		out[i] = l
	}
	return out
}

var small = Limits{MaxLineQuantity: 10, MaxLines: 3, MaxTotal: d("50000")}

var _ = Describe("Checkout limits", func() {
	DescribeTable("given no payment, when a checkout is out of bounds, then it is refused naming the field",
		func(limits Limits, lines []OrderLine, field string) {
			got, err := Decide(State{}, checkout(func(c *CreateCheckout) { c.Lines, c.Limits = lines, limits }))
			var ve *ValidationError
			Expect(err).To(BeAssignableToTypeOf(ve))
			Expect(err).To(MatchError(ErrInvalid))
			Expect(err.(*ValidationError).Field).To(Equal(field))
			Expect(got).To(BeEmpty())
		},
		Entry("a quantity of 2^40 with the defaults", Limits{}, []OrderLine{line(1<<40, "1300000000000")}, "items[0].quantity"),
		Entry("a quantity of 2^63−1 with the defaults", Limits{}, []OrderLine{line(math.MaxInt64, "3000")}, "items[0].quantity"),
		Entry("the default quantity cap + 1", Limits{}, []OrderLine{line(1, "3000"), line(DefaultMaxLineQuantity+1, "100")}, "items[1].quantity"),
		Entry("a configured quantity cap + 1", small, []OrderLine{line(11, "100")}, "items[0].quantity"),
		Entry("a zero quantity", small, []OrderLine{line(0, "100")}, "items[0].quantity"),
		Entry("a negative quantity", small, []OrderLine{line(-1, "100")}, "items[0].quantity"),
		Entry("the default line cap + 1", Limits{}, linesOf(DefaultMaxLines+1, line(1, "1000")), "items"),
		Entry("a configured line cap + 1", small, linesOf(4, line(1, "1000")), "items"),
		Entry("a total above the default cap", Limits{}, []OrderLine{line(2, "5000001")}, "items"),
		Entry("a total above a configured cap", small, []OrderLine{line(5, "10000"), line(1, "1")}, "items"),
		Entry("a total below Toss's minimum of 100 KRW", small, []OrderLine{line(1, "99")}, "items"),
		Entry("a huge unit price", Limits{}, []OrderLine{line(1, "1e30")}, "items"),
	)

	DescribeTable("given no payment, when a checkout is at its bounds, then it is created",
		func(limits Limits, lines []OrderLine, total string) {
			got, err := Decide(State{}, checkout(func(c *CreateCheckout) { c.Lines, c.Limits = lines, limits }))
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(HaveLen(1))
			Expect(got[0].(CheckoutCreated).TotalAmount).To(Equal(d(total)))
		},
		Entry("the default caps exactly", Limits{},
			append(linesOf(DefaultMaxLines-2, line(1, "100")), line(1, "200"), line(DefaultMaxLineQuantity, "10000")), "10000000"),
		Entry("configured caps exactly", small, []OrderLine{line(10, "4000"), line(10, "900"), line(1, "1000")}, "50000"),
		Entry("Toss's minimum exactly", small, []OrderLine{line(1, "100")}, "100"),
	)

	It("checks requested quantities before anything is priced, as Decide does", func() {
		Expect(Limits{}.CheckQuantities([]int64{1, 2})).To(Succeed())
		err := small.CheckQuantities([]int64{1, 1 << 40})
		Expect(err).To(MatchError(ContainSubstring("items[1].quantity")))
		Expect(small.CheckQuantities(nil)).To(MatchError(ErrInvalid))
		Expect(small.CheckQuantities(make([]int64, 1_000_000))).To(MatchError(ContainSubstring("at most 3 items")))
	})

	DescribeTable("configured limits are validated against their ceilings",
		func(l Limits, field string) {
			err := l.Validate()
			if field == "" {
				Expect(err).NotTo(HaveOccurred())
				return
			}
			Expect(err).To(BeAssignableToTypeOf(&ValidationError{}))
			Expect(err.(*ValidationError).Field).To(Equal(field))
		},
		Entry("the defaults", Limits{}, ""),
		Entry("the ceilings", Limits{MaxLineQuantity: CeilingMaxLineQuantity, MaxLines: CeilingMaxLines,
			MaxTotal: decimal.NewFromInt(CeilingMaxTotal)}, ""),
		Entry("a negative quantity cap", Limits{MaxLineQuantity: -1}, "maxLineQuantity"),
		Entry("a quantity cap above 2^53−1", Limits{MaxLineQuantity: 1 << 53}, "maxLineQuantity"),
		Entry("more lines than an event holds", Limits{MaxLines: CeilingMaxLines + 1}, "maxLines"),
		Entry("a total cap below Toss's minimum", Limits{MaxTotal: d("99")}, "maxTotal"),
		Entry("a fractional total cap", Limits{MaxTotal: d("1000.5")}, "maxTotal"),
		Entry("a total cap above 2^53−1", Limits{MaxTotal: d("9007199254740992")}, "maxTotal"),
	)
})
