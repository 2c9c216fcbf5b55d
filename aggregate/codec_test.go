package aggregate_test

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

const goldenDir = "../testdata/events"

var _ = Describe("Codec", func() {
	It("has a golden file for every event version it decodes", func() {
		files, err := filepath.Glob(filepath.Join(goldenDir, "payment.*.json")) // the payment decider's events
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, f := range files {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
		Expect(names).To(ConsistOf(EventNames()))
	})

	It("decodes every golden file, and Evolve accepts each event", func() {
		for _, name := range EventNames() {
			data, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
			Expect(err).NotTo(HaveOccurred())
			e, err := Decode(name, data)
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(e.EventName()).To(Equal(name), "current versions decode to themselves")
			Expect(func() { Evolve(State{}, e) }).NotTo(Panic(), name)
		}
	})

	It("round-trips current versions to the golden JSON", func() {
		for _, name := range EventNames() {
			golden, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
			Expect(err).NotTo(HaveOccurred())
			e, err := Decode(name, golden)
			Expect(err).NotTo(HaveOccurred())
			gotName, data, err := Encode(e)
			Expect(err).NotTo(HaveOccurred())
			Expect(gotName).To(Equal(name))
			Expect(data).To(MatchJSON(golden), name)
		}
	})

	It("stores money as JSON strings, never floats", func() {
		_, data, err := Encode(created)
		Expect(err).NotTo(HaveOccurred())
		var raw map[string]any
		Expect(json.Unmarshal(data, &raw)).To(Succeed())
		Expect(raw["totalAmount"]).To(Equal("48500"))
	})

	It("refuses names it does not know", func() {
		_, err := Decode("payment.something-else.v1", []byte(`{}`))
		Expect(err).To(MatchError(ErrUnknownEvent))
	})
})
