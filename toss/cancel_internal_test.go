package toss

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("the toss.v2 cancel code table", func() {
	It("only adds to the released toss.v1 table, never changes a code's class in place", func() {
		Expect(cancelCodesV1).To(HaveLen(25))
		for code := range cancelCodesAddedInV2 {
			Expect(cancelCodesV1).NotTo(HaveKey(code))
		}
		for code, c := range cancelCodesV1 {
			Expect(cancelCodes).To(HaveKeyWithValue(code, c))
		}
		// Toss's 결제 취소 table has 30 codes; INVALID_API_KEY, INVALID_IDEMPOTENCY_KEY and
		// IDEMPOTENT_REQUEST_PROCESSING can answer any keyed request (tossCancelCodes, cancel_test.go).
		Expect(cancelCodes).To(HaveLen(33))
	})
})
