package commands_test

import (
	"bytes"
	"os"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/commands"
)

var _ = Describe("EventMetadata", func() {
	// The chained metadata is frozen like the events: every recorded chain depends on it
	// (audit's spec pins its hash).
	It("decodes its golden file and encodes back to it", func() {
		raw, err := os.ReadFile("../testdata/metadata/chained-event.v1.json")
		Expect(err).NotTo(HaveOccurred())
		var golden struct {
			Metadata json.RawMessage `json:"metadata"`
		}
		Expect(json.Unmarshal(raw, &golden)).To(Succeed())
		dec := json.NewDecoder(bytes.NewReader(golden.Metadata))
		dec.DisallowUnknownFields()
		var md commands.EventMetadata
		Expect(dec.Decode(&md)).To(Succeed())
		Expect(md.Hash).To(HavePrefix("sha256:"))
		Expect(md.PrevHash).To(HavePrefix("sha256:"))
		again, err := json.Marshal(md)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(MatchJSON(golden.Metadata))
	})
})
