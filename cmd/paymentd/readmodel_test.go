package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/postgres/pgtest"
)

// databaseURL is DATABASE_URL when set, else a database in a throwaway cluster stopped
// when the spec ends.
func databaseURL(ctx context.Context) string {
	GinkgoHelper()
	var (
		cluster *pgtest.Cluster
		err     error
	)
	if u := os.Getenv("DATABASE_URL"); u != "" {
		cluster, err = pgtest.External(u)
	} else {
		cluster, err = pgtest.Start(ctx, pgtest.Options{})
		if err == nil {
			DeferCleanup(cluster.Stop, context.Background())
		}
	}
	Expect(err).NotTo(HaveOccurred(), "PostgreSQL is required: install postgresql-15 or set DATABASE_URL")
	db, err := cluster.NewDatabase(ctx)
	Expect(err).NotTo(HaveOccurred())
	return db
}

var _ = Describe("paymentd read models", func() {
	Context("with DATABASE_URL (PostgreSQL)", func() {
		It("serves payments and the list from PostgreSQL, verifies clean and rebuilds", func(ctx SpecContext) {
			inst := startPaymentd(map[string]string{"DATABASE_URL": databaseURL(ctx)})
			DeferCleanup(inst.stop)
			var orders []string
			for range 3 {
				orderID, key, amount := checkoutAndAuthorise(inst)
				Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
				orders = append(orders, orderID)
				state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
				Expect(state.status).To(Equal(http.StatusOK))
				Expect(state.body["status"]).To(Equal("SUCCESS"), "read-your-writes")
			}
			page := call(http.MethodGet, inst.url+"/v1/payments?status=SUCCESS&limit=2", nil)
			Expect(page.status).To(Equal(http.StatusOK))
			Expect(page.body["items"]).To(HaveLen(2))
			next := page.body["nextCursor"].(string)
			page = call(http.MethodGet, inst.url+"/v1/payments?status=SUCCESS&limit=2&cursor="+url.QueryEscape(next), nil)
			Expect(page.body["items"]).To(HaveLen(1))
			Expect(page.body).NotTo(HaveKey("nextCursor"))

			verified := call(http.MethodPost, inst.url+"/admin/v1/readmodel/verify", nil)
			Expect(verified.status).To(Equal(http.StatusOK))
			Expect(verified.body["drift"]).To(BeNil())
			Expect(verified.body["payments"]).To(BeNumerically("==", 3))

			req, err := http.NewRequestWithContext(ctx, http.MethodPost, inst.url+"/admin/v1/readmodel/rebuild", nil)
			Expect(err).NotTo(HaveOccurred())
			authorize(req)
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			body, err := readAllString(resp)
			Expect(err).NotTo(HaveOccurred())
			Expect(body).To(ContainSubstring("done "))
			Expect(call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).body["healthy"]).To(BeTrue())
			Expect(call(http.MethodPost, inst.url+"/admin/v1/readmodel/verify", nil).body["drift"]).To(BeNil())
		}, SpecTimeout(60*time.Second))
	})

	Context("with DATABASE_URL, given text PostgreSQL cannot store", func() {
		It("refuses it at the edge naming the field, and reads keep working", func(ctx SpecContext) {
			inst := startPaymentd(map[string]string{"DATABASE_URL": databaseURL(ctx)})
			DeferCleanup(inst.stop)
			for field, body := range map[string]string{
				"buyerId":            `{"buyerId":"buyer\u0000","items":[{"productId":"book-kia","quantity":1}]}`,
				"items[0].productId": `{"buyerId":"buyer-1","items":[{"productId":"book\u0000","quantity":1}]}`,
			} {
				bad := call(http.MethodPost, inst.url+"/v1/checkout", body)
				Expect(bad.status).To(Equal(http.StatusBadRequest), field)
				Expect(bad.body["errors"]).To(ContainElement(HaveKeyWithValue("field", field)))
			}
			bad := call(http.MethodGet, inst.url+"/v1/payments?buyerId=b%00", nil)
			Expect(bad.status).To(Equal(http.StatusBadRequest))
			Expect(bad.body["errors"]).To(ContainElement(HaveKeyWithValue("field", "buyerId")))

			orderID, _, _ := checkoutAndAuthorise(inst)
			Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).status).To(Equal(http.StatusOK))
			Expect(call(http.MethodGet, inst.url+"/v1/payments?buyerId=buyer-1", nil).status).To(Equal(http.StatusOK))
			Expect(call(http.MethodGet, inst.url+"/readyz", nil).status).To(Equal(http.StatusOK))
			Expect(call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).body["deadLetters"]).To(BeEmpty())
		}, SpecTimeout(60*time.Second))
	})

	Context("with a data directory (Pebble read models)", func() {
		// paid confirms n payments and returns their orderIds.
		paid := func(inst instance, n int) []string {
			GinkgoHelper()
			var orders []string
			for range n {
				orderID, key, amount := checkoutAndAuthorise(inst)
				Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
				orders = append(orders, orderID)
			}
			return orders
		}

		It("serves the stored rows right after a restart and projects new payments on top of them", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			inst := startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
			orders := paid(inst, 3)
			for _, orderID := range orders {
				Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["status"]).To(Equal("SUCCESS"))
			}
			status := call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).body
			Expect(status["mode"]).To(Equal("pebble"))
			checkpoint := status["checkpoint"].(float64)
			Expect(inst.stop()).To(Succeed())

			inst = startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
			DeferCleanup(inst.stop)
			// No ?wait=: this instance appended nothing yet, so reads wait for nothing, and
			// the rows are there before the projector has read a single event.
			Expect(call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).body["checkpoint"]).To(BeNumerically(">=", checkpoint))
			for _, orderID := range orders {
				state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
				Expect(state.status).To(Equal(http.StatusOK))
				Expect(state.body["status"]).To(Equal("SUCCESS"))
			}
			page := call(http.MethodGet, inst.url+"/v1/payments?status=SUCCESS", nil)
			Expect(page.body["items"]).To(HaveLen(3))

			more := paid(inst, 1)[0]
			Expect(call(http.MethodGet, inst.url+"/v1/payments/"+more, nil).body["status"]).To(Equal("SUCCESS"), "read-your-writes")
			Expect(call(http.MethodGet, inst.url+"/v1/payments?status=SUCCESS", nil).body["items"]).To(HaveLen(4))
			verified := call(http.MethodPost, inst.url+"/admin/v1/readmodel/verify", nil)
			Expect(verified.status).To(Equal(http.StatusOK))
			Expect(verified.body["drift"]).To(BeNil())
			Expect(verified.body["payments"]).To(BeNumerically("==", 4))
			Expect(call(http.MethodPost, inst.url+"/admin/v1/readmodel/rebuild", nil).status).To(Equal(http.StatusConflict))
		}, SpecTimeout(60*time.Second))

		It("rebuilds from position 0 a read model its event store does not hold the checkpoint of, saying so once", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			inst := startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
			old := paid(inst, 2)
			Expect(inst.stop()).To(Succeed())
			// Another data directory with that read model beside an empty event store: as if
			// the event files had been replaced by an older copy.
			other := GinkgoT().TempDir()
			Expect(os.CopyFS(filepath.Join(other, "readmodel"), os.DirFS(filepath.Join(dir, "readmodel")))).To(Succeed())

			inst, out := startPaymentdOut(map[string]string{"PAYSTREAM_DATA_DIR": other})
			DeferCleanup(inst.stop)
			Expect(strings.Count(out.String(), "read model does not match the event store")).To(Equal(1), out.String())
			for _, orderID := range old {
				Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).status).To(Equal(http.StatusNotFound))
			}
			orderID := paid(inst, 1)[0]
			Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["status"]).To(Equal("SUCCESS"))
			verified := call(http.MethodPost, inst.url+"/admin/v1/readmodel/verify", nil)
			Expect(verified.body["drift"]).To(BeNil())
			Expect(verified.body["payments"]).To(BeNumerically("==", 1))
		}, SpecTimeout(60*time.Second))

		It("replaces a database it cannot read with an empty read model, saying so", func(ctx SpecContext) {
			dir := filepath.Join(GinkgoT().TempDir(), "readmodel")
			db, err := localkv.Open(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(db.Set([]byte("something"), []byte("else"), nil)).To(Succeed())
			Expect(db.Close()).To(Succeed())
			var logged strings.Builder
			store, err := openDiskReadModel(ctx, dir, embedded.OpenMemory(), slog.New(slog.NewTextHandler(&logged, nil)))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(store.Close)
			Expect(store.Checkpoint(ctx)).To(BeZero())
			Expect(logged.String()).To(ContainSubstring("incompatible"))
		})
	})

	Context("in the embedded default (memory read models)", func() {
		It("lists payments and answers bad query parameters naming them", func() {
			inst := startPaymentd(nil)
			DeferCleanup(inst.stop)
			orderID, _, _ := checkoutAndAuthorise(inst)
			page := call(http.MethodGet, inst.url+"/v1/payments?buyerId=buyer-1", nil)
			Expect(page.status).To(Equal(http.StatusOK))
			Expect(page.body["items"]).To(ContainElement(HaveKeyWithValue("orderId", orderID)))
			for param, query := range map[string]string{"status": "status=DONE", "limit": "limit=0", "createdFrom": "createdFrom=yesterday",
				"cursor": "cursor=xyz", "wait": "wait=-1"} {
				bad := call(http.MethodGet, inst.url+"/v1/payments?"+query, nil)
				Expect(bad.status).To(Equal(http.StatusBadRequest), query)
				Expect(bad.header.Get("Content-Type")).To(Equal("application/problem+json"))
				Expect(bad.body["errors"]).To(ContainElement(HaveKeyWithValue("field", param)))
			}
		})

		It("refuses a malformed DATABASE_URL naming the variable", func() {
			_, err := LoadConfig(nil, envOf(map[string]string{"DATABASE_URL": "postgres://host:notaport/db"}))
			Expect(err).To(MatchError(ContainSubstring("DATABASE_URL")))
		})
	})
})

func readAllString(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
