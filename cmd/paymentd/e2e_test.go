package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// syncBuffer collects run's stdout while specs read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	GinkgoWriter.Write(p)
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type instance struct {
	url, simURL string
	stop        func() error // cancels run and returns its error
}

var listening = regexp.MustCompile(`(paymentd|tosssim) listening on (http://\S+)`)

// startPaymentd calls the same run as main, on free ports, with env on top of the default.
// Its API keys are the specs' (keys_test.go) unless env says otherwise.
func startPaymentd(env map[string]string) instance {
	inst, _ := startPaymentdOut(env)
	return inst
}

// startPaymentdOut is startPaymentd that also returns what run writes to stdout.
func startPaymentdOut(env map[string]string) (instance, *syncBuffer) {
	all := map[string]string{"PAYSTREAM_ADDR": "127.0.0.1:0", "TOSSSIM_ADDR": "127.0.0.1:0", "KAFKA_ADDR": "127.0.0.1:0", "PAYSTREAM_LOG_LEVEL": "warn",
		"PAYSTREAM_API_KEYS": testAPIKeys}
	for k, v := range env {
		all[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, envOf(all), out) }()
	var inst instance
	Eventually(func() int {
		for _, m := range listening.FindAllStringSubmatch(out.String(), -1) {
			if m[1] == "paymentd" {
				inst.url = m[2]
			} else {
				inst.simURL = m[2]
			}
		}
		select {
		case err := <-done:
			Fail(fmt.Sprintf("paymentd exited: %v", err))
		default:
		}
		return len(inst.url) * len(inst.simURL)
	}).WithTimeout(10 * time.Second).ShouldNot(BeZero())
	inst.stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			// Say where it hangs: every goroutine's stack, for whoever reads the failure.
			_ = pprof.Lookup("goroutine").WriteTo(GinkgoWriter, 2)
			return fmt.Errorf("paymentd did not stop within 30 s (goroutine stacks in the spec's output)")
		}
	}
	return inst, out
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(method, url string, body any, header ...string) answer {
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else if body != nil {
		data, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	Expect(json.NewDecoder(resp.Body).Decode(&a.body)).To(Succeed())
	return a
}

// checkoutAndAuthorise creates a payment and plays the buyer in the simulator's widget.
func checkoutAndAuthorise(inst instance) (orderID, paymentKey, amount string) {
	co := call(http.MethodPost, inst.url+"/v1/checkout", map[string]any{"buyerId": "buyer-1",
		"items": []map[string]any{{"productId": "book-kia", "quantity": 1}, {"productId": "mug-gopher", "quantity": 2}}})
	Expect(co.status).To(Equal(http.StatusCreated), "%v", co.body)
	orderID, amount = co.body["orderId"].(string), co.body["totalAmount"].(string)
	sess := call(http.MethodPost, inst.simURL+"/sim/v1/sessions", fmt.Sprintf(`{"orderId":%q,"amount":%s}`, orderID, amount))
	Expect(sess.status).To(Equal(http.StatusCreated), "%v", sess.body)
	return orderID, sess.body["paymentKey"].(string), amount
}

func confirmBody(orderID, paymentKey, amount string) string {
	return fmt.Sprintf(`{"paymentKey":%q,"orderId":%q,"amount":%s}`, paymentKey, orderID, amount)
}

// historyOf returns the payment's recorded events as GET …/events answers them.
func historyOf(inst instance, orderID string) []any {
	GinkgoHelper()
	events := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"/events", nil)
	Expect(events.status).To(Equal(http.StatusOK))
	return events.body["events"].([]any)
}

func typesOf(events []any) []string {
	var types []string
	for _, e := range events {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	return types
}

// downstreamTypes are the events the followers append to an approved payment (ledger,
// wallet, completion), at a moment no spec controls.
var downstreamTypes = []string{"payment.ledger-updated.v1", "payment.wallet-updated.v1", "payment.completed.v1"}

// expectApprovedThenDownstream expects an approved payment's history: checkout, execution
// and approval, then only what the followers append, however much of it is there yet.
func expectApprovedThenDownstream(types []string) {
	GinkgoHelper()
	Expect(len(types)).To(BeNumerically(">=", 3), "%v", types)
	Expect(types[:3]).To(Equal([]string{"payment.checkout-created.v1", "payment.execution-started.v1", "payment.psp-approved.v1"}))
	for _, t := range types[3:] {
		Expect(t).To(BeElementOf(downstreamTypes), "%v", types)
	}
}

var _ = Describe("paymentd end to end (embedded default)", func() {
	It("runs checkout → buyer authorisation → confirm → state → events", func() {
		inst := startPaymentd(nil)
		defer func() { Expect(inst.stop()).To(Succeed()) }()

		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		Expect(amount).To(Equal("61000"))
		conf := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
		Expect(conf.status).To(Equal(http.StatusOK), "%v", conf.body)
		Expect(conf.body["status"]).To(Equal("SUCCESS"))
		position := conf.header.Get("X-Event-Position")
		Expect(position).To(MatchRegexp(`^[1-9][0-9]*$`), "the write's position, for ?wait= on any instance")

		state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"?wait="+position, nil)
		Expect(state.status).To(Equal(http.StatusOK))
		Expect(state.body["paymentKey"]).To(Equal(paymentKey))
		Expect(state.body["orders"]).To(HaveLen(2))

		expectApprovedThenDownstream(typesOf(historyOf(inst, orderID)))
	})

	It("lets one of 50 concurrent HTTP confirms reach Toss, and every answer agrees", func() {
		inst := startPaymentd(nil)
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"latencyMin":"30ms","latencyMax":"30ms"}`).status).To(Equal(http.StatusOK))
		answers := make(chan answer, 50)
		for range 50 {
			go func() {
				defer GinkgoRecover()
				answers <- call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
			}()
		}
		codes := map[int]int{}
		for range 50 {
			a := <-answers
			codes[a.status]++
			if a.status == http.StatusOK {
				Expect(a.body["status"]).To(Equal("SUCCESS"))
			}
		}
		Expect(codes[http.StatusOK]).To(BeNumerically(">=", 1))
		Expect(codes[http.StatusOK]+codes[http.StatusConflict]).To(Equal(50), "%v", codes)
		stats := call(http.MethodGet, inst.simURL+"/sim/v1/stats", nil).body
		Expect(stats["confirmRequests"]).To(BeNumerically("==", 1))
		Expect(stats["approvals"]).To(BeNumerically("==", 1))
	})

	It("answers bad input with problem+json and records nothing", func() {
		inst := startPaymentd(nil)
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		for _, body := range []string{
			`{"paymentKey":`, `{}`, `{"paymentKey":1,"orderId":"` + orderID + `","amount":` + amount + `}`,
			`{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","amount":"x"}`,
			`{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","amount":` + amount + `,"pad":"` + strings.Repeat("x", 100<<10) + `"}`,
		} {
			a := call(http.MethodPost, inst.url+"/v1/payments/confirm", body)
			Expect(a.status).To(BeElementOf(http.StatusBadRequest, http.StatusRequestEntityTooLarge))
			Expect(a.header.Get("Content-Type")).To(Equal("application/problem+json"))
		}
		events := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"/events", nil)
		Expect(events.body["events"]).To(HaveLen(1), "only the checkout")
	})

	It("keeps every payment across a restart with a data directory", func() {
		dir := GinkgoT().TempDir()
		inst := startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
		var orders []string
		for range 5 {
			orderID, paymentKey, amount := checkoutAndAuthorise(inst)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount)).status).To(Equal(http.StatusOK))
			orders = append(orders, orderID)
		}
		// The followers may append at any moment, before the stop and after the restart:
		// what was recorded must come back unchanged and in order, with only theirs after it.
		before := map[string][]any{}
		for _, orderID := range orders {
			before[orderID] = historyOf(inst, orderID)
			expectApprovedThenDownstream(typesOf(before[orderID]))
		}
		Expect(inst.stop()).To(Succeed())

		inst = startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		for _, orderID := range orders {
			recorded := before[orderID]
			// The restarted instance's projector resumes from the read model's checkpoint,
			// which may trail the store: it is asked, like any other instance, to wait for
			// the last position seen (read-your-writes).
			last := recorded[len(recorded)-1].(map[string]any)["position"]
			state := call(http.MethodGet, fmt.Sprintf("%s/v1/payments/%s?wait=%v", inst.url, orderID, last), nil)
			Expect(state.status).To(Equal(http.StatusOK))
			Expect(state.body["status"]).To(Equal("SUCCESS"))
			Expect(state.body["revision"]).To(BeNumerically(">=", len(recorded)-1))
			after := historyOf(inst, orderID)
			Expect(len(after)).To(BeNumerically(">=", len(recorded)))
			Expect(after[:len(recorded)]).To(Equal(recorded), "every event recorded before the restart, unchanged")
			expectApprovedThenDownstream(typesOf(after))
		}
	})

	It("keeps the in-process simulator's payments in the data directory across a restart", func() {
		dir := GinkgoT().TempDir()
		inst := startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount)).status).To(Equal(http.StatusOK))
		Expect(inst.stop()).To(Succeed())
		Expect(filepath.Join(dir, simulatorDir)).To(BeADirectory())

		inst = startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		simKey := "Basic " + base64.StdEncoding.EncodeToString([]byte(string(simulatorKey)+":"))
		p := call(http.MethodGet, inst.simURL+"/v1/payments/"+paymentKey, nil, "Authorization", simKey)
		Expect(p.status).To(Equal(http.StatusOK), "%v", p.body)
		Expect(p.body).To(HaveKeyWithValue("orderId", orderID))
		Expect(p.body).To(HaveKeyWithValue("status", "DONE"))
	})

	It("finishes an in-flight confirm before shutting down", func() {
		inst := startPaymentd(nil)
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		slow := call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"latencyMin":"400ms","latencyMax":"400ms"}`)
		Expect(slow.status).To(Equal(http.StatusOK))

		confirmed := make(chan answer, 1)
		go func() {
			defer GinkgoRecover()
			confirmed <- call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
		}()
		// Shut down only once the confirm is at Toss, so it is surely in flight.
		Eventually(func() any {
			return call(http.MethodGet, inst.simURL+"/sim/v1/stats", nil).body["confirmRequests"]
		}).Should(BeNumerically("==", 1))
		Expect(inst.stop()).To(Succeed())
		a := <-confirmed
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body["status"]).To(Equal("SUCCESS"))
	})

	It("fails at start naming the variable", func() {
		err := run(context.Background(), nil, envOf(map[string]string{"PAYSTREAM_LOG_FORMAT": "xml"}), io.Discard)
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_LOG_FORMAT")))
	})
})
