package tosssim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/toss/tosssim"
)

// raw is the status and body of a GET, for answers that are not one JSON object.
func (h *harness) raw(ctx context.Context, path string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.server.URL+path, nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", basic(testKey))
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

var _ = forEachStorage("concurrent requests", func(storage) {
	var h *harness

	BeforeEach(func() { h = newHarness(tosssim.Options{}) })

	It("capture one of 50 concurrent confirms of a payment, with a key each or one key for all", func(ctx SpecContext) {
		for _, shared := range []bool{false, true} {
			orderID := "order-race-" + strconv.FormatBool(shared)
			r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":10000}`)
			Expect(r.status).To(Equal(http.StatusCreated))
			body := `{"paymentKey":"` + r.json["paymentKey"].(string) + `","orderId":"` + orderID + `","amount":10000}`
			replies := make(chan reply, 50)
			for i := range 50 {
				go func() {
					defer GinkgoRecover()
					idem := "c-" + strconv.Itoa(i)
					if shared {
						idem = "c-shared"
					}
					replies <- h.send(ctx, "POST", "/v1/payments/confirm", body, "Idempotency-Key", idem)
				}()
			}
			var approved []string
			for range 50 {
				var r reply
				Eventually(replies).WithContext(ctx).Should(Receive(&r))
				switch {
				case r.status == http.StatusOK:
					approved = append(approved, string(r.raw))
				case shared:
					Expect(r.code()).To(Equal("IDEMPOTENT_REQUEST_PROCESSING"))
				default:
					Expect(r.code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
				}
			}
			Expect(h.sim.Approvals(orderID)).To(Equal(1))
			Expect(h.sim.ConfirmRequests(orderID)).To(Equal(50))
			if shared { // the first answer, replayed byte for byte
				Expect(approved).To(HaveEach(approved[0]))
			} else {
				Expect(approved).To(HaveLen(1))
			}
		}
	})

	It("keep every payment of orders confirmed at once, and list each approval once", func(ctx SpecContext) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for i := range 25 {
					h.approved(ctx, "order-many-"+strconv.Itoa(w)+"-"+strconv.Itoa(i), 1000+i, "")
				}
			}()
		}
		wg.Wait()
		status, body := h.raw(ctx, "/v1/transactions?startDate=2026-03-04&endDate=2026-03-04&limit=5000")
		Expect(status).To(Equal(http.StatusOK))
		Expect(strings.Count(body, `"status":"DONE"`)).To(Equal(200))
		for w := range 8 {
			for i := range 25 {
				orderID := "order-many-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				Expect(h.sim.Approvals(orderID)).To(Equal(1), orderID)
				Expect(h.sim.Transactions(orderID)).To(HaveLen(1), orderID)
			}
		}
	})
})

var _ = Describe("a data directory", func() {
	var (
		dir string
		now *clock
	)

	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "tosssim")
		now = &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	})

	// serveFrom opens the simulator in dir behind a test server; the spec closes it.
	serveFrom := func(opts tosssim.Options) *harness {
		GinkgoHelper()
		opts.Now, opts.SecretKeys = now.Now, []string{testKey}
		sim, err := tosssim.Open(dir, opts)
		Expect(err).NotTo(HaveOccurred())
		h := &harness{now: now, sim: sim, server: httptest.NewServer(sim)}
		DeferCleanup(h.server.Close)
		DeferCleanup(sim.Close) // a no-op once the spec closed it
		return h
	}

	It("holds every payment, transaction, count and idempotency answer again when opened after Close", func(ctx SpecContext) {
		h := serveFrom(tosssim.Options{})
		r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-keep-1","amount":10000}`)
		card := r.json["paymentKey"].(string)
		confirm := `{"paymentKey":"` + card + `","orderId":"order-keep-1","amount":10000}`
		confirmed := h.send(ctx, "POST", "/v1/payments/confirm", confirm, "Idempotency-Key", "c-1")
		Expect(confirmed.status).To(Equal(http.StatusOK))
		now.Advance(2 * time.Second)
		Expect(h.send(ctx, "POST", "/v1/payments/"+card+"/cancel", `{"cancelReason":"one returned","cancelAmount":3000}`).status).To(Equal(http.StatusOK))
		r = h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-keep-2","amount":20000,"method":"가상계좌"}`)
		va := r.json["paymentKey"].(string)
		Expect(h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+va+`","orderId":"order-keep-2","amount":20000}`).status).To(Equal(http.StatusOK))
		_, err := h.sim.Deposit(va, decimal.NewFromInt(20000))
		Expect(err).NotTo(HaveOccurred())

		paths := []string{"/v1/payments/" + card, "/v1/payments/orders/order-keep-1", "/v1/payments/" + va,
			"/v1/payments/orders/order-keep-2", "/v1/transactions?startDate=2026-03-04&endDate=2026-03-04",
			"/v1/settlements?startDate=2026-03-04&endDate=2026-03-04",
			"/v1/settlements?startDate=2026-03-05&endDate=2026-03-31&dateType=paidOutDate"}
		before := map[string]string{}
		for _, p := range paths {
			status, body := h.raw(ctx, p)
			Expect(status).To(Equal(http.StatusOK), p)
			before[p] = body
		}
		Expect(h.sim.Close()).To(Succeed())
		h.server.Close()

		h = serveFrom(tosssim.Options{})
		for _, p := range paths {
			status, body := h.raw(ctx, p)
			Expect(status).To(Equal(http.StatusOK), p)
			Expect(body).To(Equal(before[p]), p)
		}
		Expect(h.sim.Approvals("order-keep-1")).To(Equal(1))
		Expect(h.sim.ConfirmRequests("order-keep-1")).To(Equal(1))
		Expect(h.sim.CancelRequests("order-keep-1")).To(Equal(1))
		again := h.send(ctx, "POST", "/v1/payments/confirm", confirm, "Idempotency-Key", "c-1")
		Expect(again.raw).To(Equal(confirmed.raw))
		Expect(h.sim.Stats().IdempotentReplays).To(BeEquivalentTo(1)) // the totals start again

		By("listing a transaction made at the same instant after reopening after the earlier ones")
		h.approved(ctx, "order-keep-3", 5000, "")
		_, body := h.raw(ctx, "/v1/transactions?startDate=2026-03-04&endDate=2026-03-04")
		Expect(strings.LastIndex(body, "order-keep-3")).To(BeNumerically(">", strings.LastIndex(body, "order-keep-2")))
	})

	It("keeps in memory only the payments in use and a bounded number of recent ones", func() {
		sim, err := tosssim.Open(dir, tosssim.Options{Now: now.Now})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sim.Close)
		n := tosssim.HotOrders + 200
		for i := range n {
			orderID := "order-hot-" + strconv.Itoa(i)
			key, err := sim.CreateSession(orderID, decimal.NewFromInt(1000))
			Expect(err).NotTo(HaveOccurred())
			req := httptest.NewRequest(http.MethodPost, "/v1/payments/confirm",
				strings.NewReader(`{"paymentKey":"`+key+`","orderId":"`+orderID+`","amount":1000}`))
			req.Header.Set("Authorization", basic("test_sk_hot"))
			req.Header.Set("Idempotency-Key", "confirm-"+orderID)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			Expect(rec.Code).To(Equal(http.StatusOK), rec.Body.String())
		}
		orders, keys := sim.Resident()
		Expect(orders).To(BeNumerically("<=", tosssim.HotOrders))
		Expect(keys).To(BeZero())
		Expect(sim.IdempotencyKeysHeld()).To(Equal(n))
		Expect(sim.Approvals("order-hot-0")).To(Equal(1)) // read back from disk

		cold, err := tosssim.OpenCold(GinkgoT().TempDir(), tosssim.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cold.Close)
		for i := range 20 {
			_, err := cold.CreateSession("order-cold-"+strconv.Itoa(i), decimal.NewFromInt(1000))
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(cold.Resident()).To(BeZero())
	})

	It("lets Close wait for the requests in progress, then answers 503 and ErrClosed", func(ctx SpecContext) {
		h := serveFrom(tosssim.Options{Faults: tosssim.Faults{LatencyMin: 300 * time.Millisecond, LatencyMax: 300 * time.Millisecond}})
		key, err := h.sim.CreateSession("order-close-1", decimal.NewFromInt(1000))
		Expect(err).NotTo(HaveOccurred())
		confirmed := make(chan reply, 1)
		go func() {
			defer GinkgoRecover()
			confirmed <- h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"order-close-1","amount":1000}`)
		}()
		Eventually(func() int64 { return h.sim.Stats().ConfirmRequests }).WithContext(ctx).Should(BeEquivalentTo(1))
		closed := make(chan error, 1)
		go func() { closed <- h.sim.Close() }()
		var r reply
		Eventually(confirmed).WithContext(ctx).Should(Receive(&r))
		Expect(r.status).To(Equal(http.StatusOK))
		Eventually(closed).WithContext(ctx).Should(Receive(BeNil()))

		r = h.send(ctx, "GET", "/v1/payments/orders/order-close-1", "")
		Expect(r.status).To(Equal(http.StatusServiceUnavailable))
		_, err = h.sim.CreateSession("order-close-2", decimal.NewFromInt(1000))
		Expect(err).To(MatchError(tosssim.ErrClosed))
		Expect(h.sim.Approvals("order-close-1")).To(BeZero())
		Expect(h.sim.Close()).To(Succeed())

		h = serveFrom(tosssim.Options{})
		Expect(h.sim.Approvals("order-close-1")).To(Equal(1))
	})

	It("refuses a directory it cannot open, or one holding another format, naming it", func() {
		file := filepath.Join(GinkgoT().TempDir(), "file")
		Expect(os.WriteFile(file, nil, 0o600)).To(Succeed())
		_, err := tosssim.Open(filepath.Join(file, "tosssim"), tosssim.Options{})
		Expect(err).To(MatchError(ContainSubstring(file)))

		db, err := localkv.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(db.Set([]byte("mformat"), []byte("tosssim-0"), pebble.Sync)).To(Succeed())
		Expect(db.Close()).To(Succeed())
		_, err = tosssim.Open(dir, tosssim.Options{})
		Expect(err).To(MatchError(And(ContainSubstring(dir), ContainSubstring("tosssim-0"))))
	})
})
