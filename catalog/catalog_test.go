package catalog_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/catalog"
)

var _ = Describe("Parse", func() {
	It("reads the sample catalog", func() {
		c, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		p, ok := c.Product("mug-gopher")
		Expect(ok).To(BeTrue())
		Expect(p.Price).To(Equal(decimal.NewFromInt(12500)))
		Expect(p.SellerID).To(Equal("seller-2"))
		_, ok = c.Product("nope")
		Expect(ok).To(BeFalse())
	})

	DescribeTable("refuses a catalog that could misprice a checkout",
		func(doc, problem string) {
			_, err := catalog.Parse([]byte(doc))
			Expect(err).To(MatchError(ContainSubstring(problem)))
		},
		Entry("a fractional price", `{"products":[{"id":"a","name":"A","sellerId":"s","price":"10.5"}]}`, "whole number"),
		Entry("a zero price", `{"products":[{"id":"a","name":"A","sellerId":"s","price":"0"}]}`, "positive"),
		Entry("a price beyond any checkout", `{"products":[{"id":"a","name":"A","sellerId":"s","price":"9007199254740992"}]}`, "at most"),
		Entry("a missing seller", `{"products":[{"id":"a","name":"A","price":"10"}]}`, "sellerId"),
		Entry("a duplicate id", `{"products":[{"id":"a","name":"A","sellerId":"s","price":"10"},{"id":"a","name":"B","sellerId":"s","price":"20"}]}`, "duplicate"),
		Entry("a misspelt field", `{"products":[{"id":"a","name":"A","sellerId":"s","prize":"10"}]}`, "unknown field"),
		Entry("no products", `{"products":[]}`, "no products"),
	)
})
