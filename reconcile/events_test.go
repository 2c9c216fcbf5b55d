package reconcile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/reconcile"
)

const goldenDir = "../testdata/events"

var _ = Describe("Reconciliation events", func() {
	It("has a golden file for every event version it decodes", func() {
		files, err := filepath.Glob(filepath.Join(goldenDir, "reconciliation.*.json"))
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, f := range files {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
		Expect(names).To(ConsistOf(reconcile.EventNames()))
	})

	It("decodes every golden file strictly and encodes it back to the same JSON", func() {
		for _, name := range reconcile.EventNames() {
			golden, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
			Expect(err).NotTo(HaveOccurred())
			e, err := reconcile.Decode(name, golden)
			Expect(err).NotTo(HaveOccurred(), name)
			strict := json.NewDecoder(bytes.NewReader(golden))
			strict.DisallowUnknownFields()
			into := map[string]any{}
			Expect(strict.Decode(&into)).To(Succeed())
			gotName, data, err := reconcile.Encode(e)
			Expect(err).NotTo(HaveOccurred())
			Expect(gotName).To(Equal(name))
			Expect(data).To(MatchJSON(golden), name)
		}
	})

	It("stores money as JSON strings, never floats", func() {
		golden, err := os.ReadFile(filepath.Join(goldenDir, reconcile.NameSettlementRecorded+".json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(golden)).To(ContainSubstring(`"payOut":"46687"`))
	})

	It("refuses names it does not know", func() {
		_, err := reconcile.Decode("reconciliation.something-else.v1", []byte(`{}`))
		Expect(err).To(MatchError(reconcile.ErrUnknownEvent))
	})
})
