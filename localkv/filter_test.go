package localkv_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/localkv"
)

var _ = Describe("Filter", func() {
	It("contains every key added, and rarely one that was not", func() {
		f := localkv.NewFilter()
		for i := range 100_000 {
			f.Add(fmt.Sprintf("message-%d", i))
		}
		for i := range 100_000 {
			Expect(f.MayContain(fmt.Sprintf("message-%d", i))).To(BeTrue())
		}
		wrong := 0
		for i := range 100_000 {
			if f.MayContain(fmt.Sprintf("other-%d", i)) {
				wrong++
			}
		}
		Expect(wrong).To(BeNumerically("<", 5), "about one in 10 million at this load")
		Expect(localkv.NewFilter().MayContain("message-1")).To(BeFalse())
	})
})
