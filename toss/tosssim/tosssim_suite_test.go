package tosssim_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/toss/tosssim"
)

func TestTosssim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Toss simulator suite")
}

// storage is one way the simulator keeps its payments.
type storage struct {
	name   string
	memory bool // New; otherwise a data directory (Open)
}

var storages = []storage{{name: "in memory", memory: true}, {name: "in a data directory"}}

// newSimulator makes the simulator of the spec running: forEachStorage sets it before the
// spec's own BeforeEach run.
var newSimulator func(tosssim.Options) *tosssim.Simulator

// forEachStorage declares the specs of body once per storage, so that every behaviour is
// checked in memory and on disk alike. On disk the simulator keeps no payment in memory
// once a request is done with it: every request reads its payment back from the
// database, and a field the encoding forgot shows as a failing spec.
func forEachStorage(text string, body func(storage)) bool {
	return Describe(text, func() {
		for _, st := range storages {
			Context(st.name, func() {
				BeforeEach(func() {
					newSimulator = tosssim.New
					if !st.memory {
						newSimulator = openCold
					}
				})
				body(st)
			})
		}
	})
}

func openCold(opts tosssim.Options) *tosssim.Simulator {
	GinkgoHelper()
	sim, err := tosssim.OpenCold(GinkgoT().TempDir(), opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sim.Close)
	return sim
}
