package commands_test

import (
	"bytes"
	"os"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/commands"
)

var _ = Describe("KeyClaimed", func() {
	It("decodes its frozen golden file and encodes back to it", func() {
		golden, err := os.ReadFile("../testdata/events/" + commands.NameKeyClaimed + ".json")
		Expect(err).NotTo(HaveOccurred())
		var c commands.KeyClaimed
		dec := json.NewDecoder(bytes.NewReader(golden))
		dec.DisallowUnknownFields()
		Expect(dec.Decode(&c)).To(Succeed())
		Expect(c.Operation).To(Equal("confirm"))
		Expect(c.OrderID).NotTo(BeEmpty())
		Expect(c.RequestHash).To(HavePrefix("sha256:"))
		Expect(c.At.IsZero()).To(BeFalse())
		again, err := json.Marshal(c)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(MatchJSON(golden))
	})
})
