package localkv_test

import (
	"encoding/binary"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/localkv"
)

var _ = Describe("Reader", func() {
	value := func() []byte {
		b := binary.AppendUvarint(nil, 300)
		b = binary.AppendVarint(b, -7)
		b = localkv.AppendString(b, "주문")
		return localkv.AppendBool(b, true)
	}

	It("reads back what the primitives wrote, and ends with nothing left", func() {
		r := localkv.ReaderOf(value())
		Expect(r.Uvarint()).To(Equal(uint64(300)))
		Expect(r.Varint()).To(Equal(int64(-7)))
		Expect(r.Str()).To(Equal("주문"))
		Expect(r.Bool()).To(BeTrue())
		Expect(r.End()).To(Succeed())
	})

	It("fails a truncated value for good, and a value with bytes left over", func() {
		b := value()
		r := localkv.ReaderOf(b[:len(b)-3]) // cuts into the string
		r.Uvarint()
		r.Varint()
		Expect(r.Str()).To(BeEmpty())
		Expect(r.Bool()).To(BeFalse())
		Expect(r.Err()).To(MatchError(localkv.ErrCorrupt))

		r = localkv.ReaderOf(append(value(), 0))
		r.Uvarint()
		r.Varint()
		r.Str()
		r.Bool()
		Expect(r.Err()).To(Succeed())
		Expect(r.End()).To(MatchError(localkv.ErrCorrupt))
	})
})
