package localkv_test

import (
	"errors"

	"fmt"

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

	It("scans the keys of one prefix byte in order, without their prefix, and stops at fn's error", func() {
		db, err := localkv.Open(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		defer db.Close()
		for _, k := range []string{"a1", "b2", "b1", "c1"} {
			Expect(db.Set([]byte(k), []byte("v"+k), pebble.NoSync)).To(Succeed())
		}
		var seen []string
		Expect(localkv.Scan(db, 'b', func(k, v []byte) error {
			seen = append(seen, string(k)+"="+string(v))
			return nil
		})).To(Succeed())
		Expect(seen).To(Equal([]string{"1=vb1", "2=vb2"}))
		stop := errors.New("stop")
		n := 0
		Expect(localkv.Scan(db, 'b', func(k, v []byte) error { n++; return stop })).To(MatchError(stop))
		Expect(n).To(Equal(1))
	})

	It("names the directory when it cannot open it", func() {
		_, err := localkv.Open("/proc/no-such-place/db")
		Expect(err).To(MatchError(ContainSubstring("/proc/no-such-place/db")))
	})
})

var _ = Describe("a read of an absent key", func() {
	It("is answered by the tables' Bloom filters, not their blocks", func() {
		db, err := localkv.Open(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(db.Close)
		for i := range 1000 {
			Expect(db.Set([]byte(fmt.Sprintf("key-%04d", i)), []byte("v"), pebble.NoSync)).To(Succeed())
		}
		Expect(db.Flush()).To(Succeed())

		before := db.Metrics().Filter.Hits
		_, _, err = db.Get([]byte("key-0500x")) // among the table's keys, but not one of them
		Expect(err).To(MatchError(pebble.ErrNotFound))
		Expect(db.Metrics().Filter.Hits).To(Equal(before + 1))
	})
})
