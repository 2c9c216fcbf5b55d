package localkv_test

import (
	"github.com/cockroachdb/pebble"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/localkv"
)

var _ = Describe("Open", func() {
	It("reads back a batch written without fsync after the database is closed and opened again", func() {
		dir := GinkgoT().TempDir()
		db, err := localkv.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		b := db.NewBatch()
		Expect(b.Set([]byte("k"), []byte("v"), nil)).To(Succeed())
		Expect(b.Commit(pebble.NoSync)).To(Succeed())
		Expect(db.Close()).To(Succeed())

		db, err = localkv.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		defer db.Close()
		v, closer, err := db.Get([]byte("k"))
		Expect(err).NotTo(HaveOccurred())
		defer closer.Close()
		Expect(string(v)).To(Equal("v"))
	})

	It("names the directory when it cannot open it", func() {
		_, err := localkv.Open("/proc/no-such-place/db")
		Expect(err).To(MatchError(ContainSubstring("/proc/no-such-place/db")))
	})
})
