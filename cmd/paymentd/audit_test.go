package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// rewriteLog copies the data directory's events into a fresh one through edit, which may
// change an event or drop it (nil); revisions are renumbered as a store would.
func rewriteLog(from, to string, edit func(e eventstore.RecordedEvent) []eventstore.RecordedEvent) {
	src, err := embedded.Open(from)
	Expect(err).NotTo(HaveOccurred())
	defer src.Close()
	var (
		mu  sync.Mutex
		all []eventstore.RecordedEvent
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle := time.AfterFunc(time.Second, cancel)
	_ = src.Follow(ctx, 0, "", func(_ context.Context, e eventstore.RecordedEvent) error {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, e)
		idle.Reset(300 * time.Millisecond) // everything stored is delivered at once
		return nil
	})
	dst, err := embedded.Open(to)
	Expect(err).NotTo(HaveOccurred())
	defer dst.Close()
	next := map[string]eventstore.Revision{}
	for _, e := range all {
		for _, out := range edit(e) {
			rev, ok := next[e.Stream]
			if !ok {
				rev = eventstore.NoStream
			}
			_, err := dst.Append(context.Background(), e.Stream, rev, []eventstore.Event{{ID: out.ID, Type: out.Type, Data: out.Data, Metadata: out.Metadata}})
			Expect(err).NotTo(HaveOccurred())
			next[e.Stream] = rev + 1
		}
	}
	for _, f := range []string{"anchor.key"} {
		if b, err := os.ReadFile(filepath.Join(from, f)); err == nil {
			Expect(os.WriteFile(filepath.Join(to, f), b, 0o600)).To(Succeed())
		}
	}
}

var _ = Describe("the auditor's toolkit end to end (embedded, data directory)", func() {
	var (
		dir, keyFile string
		env          map[string]string
	)
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "data")
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		keyFile = filepath.Join(GinkgoT().TempDir(), "anchor.key")
		Expect(os.WriteFile(keyFile, []byte(audit.FormatKey(key)), 0o600)).To(Succeed())
		env = map[string]string{"PAYSTREAM_DATA_DIR": dir, "PAYSTREAM_ANCHOR_KEY_FILE": keyFile, "PAYSTREAM_ANCHOR_INTERVAL": "100ms"}
	})

	// paid makes a confirmed payment with a partial refund and waits until downstream booked it.
	paid := func(inst instance) string {
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount)).status).To(Equal(http.StatusOK))
		Eventually(func() any {
			return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["isPaymentDone"]
		}).WithTimeout(15 * time.Second).Should(BeTrue())
		Expect(call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", `{"cancelReason":"one mug broke","cancelAmount":12500,"orders":[{"seq":2,"amount":12500}]}`,
			"Idempotency-Key", "refund-"+orderID).status).To(Equal(http.StatusOK))
		// Until the ledger and the wallets booked the refund, their events may still land
		// between two reads of the stream.
		Eventually(func() any {
			cancels, _ := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["cancels"].([]any)
			if len(cancels) == 0 {
				return false
			}
			return cancels[0].(map[string]any)["booked"]
		}).WithTimeout(15 * time.Second).Should(BeTrue())
		return orderID
	}

	It("replays a payment as of every revision and instant, with the why of each event", func() {
		inst := startPaymentd(env)
		DeferCleanup(inst.stop)
		orderID := paid(inst)
		tl := call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"/timeline", nil)
		Expect(tl.status).To(Equal(http.StatusOK))
		timeline := tl.body["timeline"].([]any)
		events := historyOf(inst, orderID)
		Expect(timeline).To(HaveLen(len(events)))
		sawWhy := false
		for i, t := range timeline {
			entry := t.(map[string]any)
			Expect(entry["revision"]).To(BeNumerically("==", i))
			Expect(entry["hash"]).To(HavePrefix("sha256:"))
			Expect(entry["correlationId"]).NotTo(BeEmpty())
			asOf := call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"?asOf="+jsonNumber(i), nil)
			Expect(asOf.status).To(Equal(http.StatusOK))
			Expect(asOf.body["payment"]).To(Equal(entry["state"]), "as of revision %d", i)
			at := call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"?asOf="+entry["recordedAt"].(string), nil)
			Expect(at.body["asOf"].(map[string]any)["revision"]).To(BeNumerically(">=", i), "as of its recorded instant")
			if entry["type"] == "payment.psp-approved.v1" {
				why := entry["why"].(map[string]any)
				Expect(why["rule"]).NotTo(BeEmpty())
				Expect(why["ruleVersion"]).To(MatchRegexp(`^toss\.v\d+$`))
				Expect(why).To(HaveKey("evidence"))
				Expect(entry["actor"]).To(Equal("shop"), "the merchant key that confirmed")
				Expect(entry["downstreamMessageIds"]).To(ConsistOf(entry["id"]))
				sawWhy = true
			}
		}
		Expect(sawWhy).To(BeTrue())
		Expect(call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"?asOf=2001-01-01T00:00:00Z", nil).status).To(Equal(http.StatusNotFound))
		Expect(call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"?asOf=soon", nil).status).To(Equal(http.StatusBadRequest))
		Expect(call(http.MethodGet, inst.url+"/audit/v1/payments/"+orderID+"/verify", nil).body["intact"]).To(BeTrue())
	})

	It("exports a period that round-trips: every event with its hashes, every payment as CSV", func(ctx SpecContext) {
		inst := startPaymentd(env)
		DeferCleanup(inst.stop)
		from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
		orderID := paid(inst)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.url+"/audit/v1/export/events?from="+from, nil)
		Expect(err).NotTo(HaveOccurred())
		authorize(req)
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		var exported []eventstore.RecordedEvent
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Stream   string          `json:"stream"`
				Revision int64           `json:"revision"`
				Type     string          `json:"type"`
				Data     json.RawMessage `json:"data"`
				Metadata json.RawMessage `json:"metadata"`
				Hash     string          `json:"hash"`
			}
			Expect(json.Unmarshal(sc.Bytes(), &line)).To(Succeed())
			Expect(line.Hash).To(HavePrefix("sha256:"))
			if line.Stream == "payment-"+orderID {
				exported = append(exported, eventstore.RecordedEvent{Stream: line.Stream, Revision: eventstore.Revision(line.Revision),
					Type: line.Type, Data: line.Data, Metadata: line.Metadata})
			}
		}
		Expect(exported).To(HaveLen(len(historyOf(inst, orderID))))
		Expect(audit.VerifyStream("payment-"+orderID, exported, nil).Intact).To(BeTrue(), "the export verifies on its own")

		req, err = http.NewRequestWithContext(ctx, http.MethodGet, inst.url+"/audit/v1/export/payments?from="+from, nil)
		Expect(err).NotTo(HaveOccurred())
		authorize(req)
		resp2, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp2.Body.Close()
		rows, err := csv.NewReader(resp2.Body).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(rows[0][0]).To(Equal("orderId"))
		Expect(rows).To(ContainElement(HaveExactElements(Equal(orderID), Not(BeEmpty()), Not(BeEmpty()), Equal("PARTIAL_CANCELED"),
			Not(BeEmpty()), Equal("buyer-1"), Not(BeEmpty()), Not(BeEmpty()), Not(BeEmpty()), Not(BeEmpty()), Equal("true"), Not(BeEmpty()))))
	})

	// tamper runs a payment, stops paymentd, rewrites the payment's stream in the data
	// directory through edit, restarts on it and returns the payment's verification.
	tamper := func(edit func(e eventstore.RecordedEvent) []eventstore.RecordedEvent) map[string]any {
		inst := startPaymentd(env)
		orderID := paid(inst)
		last := len(historyOf(inst, orderID)) - 1
		Eventually(func() any { // an anchor covers the stream's head
			an := call(http.MethodGet, inst.url+"/audit/v1/anchors/latest", nil)
			for _, h := range asSlice(an.body["heads"]) {
				if h.(map[string]any)["stream"] == "payment-"+orderID && h.(map[string]any)["revision"].(float64) >= float64(last) {
					return true
				}
			}
			return false
		}).WithTimeout(10 * time.Second).Should(BeTrue())
		Expect(inst.stop()).To(Succeed())
		tampered := filepath.Join(GinkgoT().TempDir(), "data")
		rewriteLog(dir, tampered, func(e eventstore.RecordedEvent) []eventstore.RecordedEvent {
			if e.Stream != "payment-"+orderID {
				return []eventstore.RecordedEvent{e}
			}
			return edit(e)
		})
		env["PAYSTREAM_DATA_DIR"] = tampered
		again := startPaymentd(env)
		DeferCleanup(again.stop)
		rep := call(http.MethodGet, again.url+"/audit/v1/payments/"+orderID+"/verify", nil)
		Expect(rep.status).To(Equal(http.StatusOK))
		Expect(rep.body["intact"]).To(BeFalse())
		return rep.body
	}
	finding := func(kind string, revision int) OmegaMatcher {
		return ContainElement(And(HaveKeyWithValue("kind", kind), HaveKeyWithValue("revision", BeNumerically("==", revision))))
	}

	It("reports an event edited in the data directory at its revision", func() {
		rep := tamper(func(e eventstore.RecordedEvent) []eventstore.RecordedEvent {
			if e.Revision == 0 {
				e.Data = []byte(strings.Replace(string(e.Data), `"buyer-1"`, `"buyer-2"`, 1))
			}
			return []eventstore.RecordedEvent{e}
		})
		Expect(rep["findings"]).To(finding(audit.Edited, 0), "%v", rep["findings"])
	})

	It("reports an event deleted from the data directory at its revision", func() {
		rep := tamper(func(e eventstore.RecordedEvent) []eventstore.RecordedEvent {
			if e.Revision == 1 {
				return nil
			}
			return []eventstore.RecordedEvent{e}
		})
		Expect(rep["findings"]).To(finding(audit.Removed, 1), "%v", rep["findings"])
	})

	It("reports events reordered in the data directory at their revisions", func() {
		var held []eventstore.RecordedEvent
		rep := tamper(func(e eventstore.RecordedEvent) []eventstore.RecordedEvent {
			switch e.Revision {
			case 1:
				held = []eventstore.RecordedEvent{e}
				return nil
			case 2:
				return append([]eventstore.RecordedEvent{e}, held...)
			}
			return []eventstore.RecordedEvent{e}
		})
		Expect(rep["findings"]).To(And(finding(audit.Reordered, 1), finding(audit.Reordered, 2)), "%v", rep["findings"])
	})

	It("catches a whole stream rewritten consistently (every hash recomputed) by the signed anchor", func() {
		prev := ""
		rep := tamper(func(e eventstore.RecordedEvent) []eventstore.RecordedEvent {
			e.Data = []byte(strings.Replace(string(e.Data), `"buyer-1"`, `"buyer-2"`, 1))
			var md map[string]any
			Expect(json.Unmarshal(e.Metadata, &md)).To(Succeed())
			delete(md, "hash")
			delete(md, "prevHash")
			if prev != "" {
				md["prevHash"] = prev
			}
			unsealed, _ := json.Marshal(md)
			h, err := audit.Seal(e.Stream, e.Revision, e.Type, e.Data, unsealed)
			Expect(err).NotTo(HaveOccurred())
			md["hash"], prev = h, h
			e.Metadata, _ = json.Marshal(md)
			return []eventstore.RecordedEvent{e}
		})
		Expect(rep["findings"]).To(ConsistOf(HaveKeyWithValue("kind", audit.Rewritten)), "the chain holds; only the anchor can tell")
	})
})

func asSlice(v any) []any { s, _ := v.([]any); return s }

func jsonNumber(i int) string { b, _ := json.Marshal(i); return string(b) }
