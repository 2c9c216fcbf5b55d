package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafka/brokertest"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/toss/tosssim"
)

// childEnv marks a test binary started as paymentd by the crash specs: it runs main's run
// and exits, so that the spec can kill it with SIGKILL.
const childEnv = "PAYSTREAM_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, nil, os.Getenv, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}

var _ = Describe("paymentd killed under load (KAFKA_DATA_DIR and PAYSTREAM_DATA_DIR)", func() {
	// Each kill lands somewhere in the pipeline: in an open transaction (kfake's recovery
	// aborts it without a marker), or in the middle of a commit (kfake writes commit markers
	// one partition at a time, so a forwarder's checkpoint could commit while its approvals
	// in another partition did not), or between a batch and its index entry (kfake's recovery
	// then reads an open transaction as committed). kafka.RepairIndexes and
	// kafka.RecoverCrashed, run at start-up, settle all three; without the commit markers'
	// part this lost approvals in about one run of four, without the index's about once in
	// 20-80 runs with a busy disk.
	It("completes every approval after each of many kill -9 and restarts", func(ctx SpecContext) {
		const simKey = "test_sk_crash_spec"
		sim := httptest.NewServer(tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: GinkgoRandomSeed()}))
		DeferCleanup(sim.Close)
		addr, kafkaAddr := freeAddr(), freeAddr()
		env := append(os.Environ(), childEnv+"=1", "PAYSTREAM_ADDR="+addr, "KAFKA_ADDR="+kafkaAddr,
			"PAYSTREAM_DATA_DIR="+GinkgoT().TempDir(), "KAFKA_DATA_DIR="+GinkgoT().TempDir(),
			"TOSS_API_URL="+sim.URL, "TOSS_SECRET_KEY="+simKey, "PAYSTREAM_LOG_LEVEL=warn", "PAYSTREAM_API_KEYS="+testAPIKeys)
		url := "http://" + addr
		client := &http.Client{Timeout: 5 * time.Second, Transport: authorizing{host: addr, base: http.DefaultTransport}}

		start := func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env, cmd.Stdout, cmd.Stderr = env, GinkgoWriter, GinkgoWriter
			Expect(cmd.Start()).To(Succeed())
			Eventually(func() error {
				resp, err := client.Get(url + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			return cmd
		}
		kill := func(cmd *exec.Cmd) {
			Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
			_ = cmd.Wait()
		}
		var cmd *exec.Cmd
		DeferCleanup(func() { // a failed spec leaves no paymentd behind
			if cmd != nil && cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})

		// pay runs checkout, the buyer's authorisation and the confirm; it reports a payment
		// the service answered SUCCESS for, and "" for anything the kill interrupted.
		pay := func(buyer string) string {
			post := func(u, body string) (int, map[string]any) {
				resp, err := client.Post(u, "application/json", strings.NewReader(body))
				if err != nil {
					return 0, nil
				}
				defer resp.Body.Close()
				var out map[string]any
				_ = jsonDecode(resp, &out)
				return resp.StatusCode, out
			}
			code, co := post(url+"/v1/checkout", `{"buyerId":"`+buyer+`","items":[{"productId":"book-kia","quantity":1}]}`)
			if code != http.StatusCreated {
				return ""
			}
			orderID, amount := co["orderId"].(string), co["totalAmount"].(string)
			code, sess := post(sim.URL+"/sim/v1/sessions", fmt.Sprintf(`{"orderId":%q,"amount":%s}`, orderID, amount))
			Expect(code).To(Equal(http.StatusCreated))
			code, conf := post(url+"/v1/payments/confirm", confirmBody(orderID, sess["paymentKey"].(string), amount))
			if code != http.StatusOK || conf["status"] != "SUCCESS" {
				return ""
			}
			return orderID
		}
		done := func(orderID string) bool {
			resp, err := client.Get(url + "/v1/payments/" + orderID)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var p map[string]any
			return resp.StatusCode == http.StatusOK && jsonDecode(resp, &p) == nil && p["isPaymentDone"] == true
		}

		rng := rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), 9))
		var mu sync.Mutex
		var approved []string
		cmd = start()
		const rounds = 8
		for round := range rounds {
			// Load: four buyers paying until the kill.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					defer GinkgoRecover()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if id := pay(fmt.Sprintf("buyer-%d-%d-%d", round, w, i)); id != "" {
							mu.Lock()
							approved = append(approved, id)
							mu.Unlock()
						}
					}
				})
			}
			// The kill comes at a seeded moment under load: after 1 to 20 more approvals.
			mu.Lock()
			killAt := len(approved) + 1 + rng.IntN(20)
			mu.Unlock()
			Eventually(func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(approved)
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeNumerically(">=", killAt))
			kill(cmd)
			close(stop)
			wg.Wait()

			cmd = start()
			mu.Lock()
			all := append([]string(nil), approved...)
			mu.Unlock()
			GinkgoWriter.Printf("round %d: %d approvals so far\n", round, len(all))
			Eventually(func() []string {
				var pending []string
				for _, id := range all {
					if !done(id) {
						pending = append(pending, id)
					}
				}
				return pending
			}).WithContext(ctx).WithTimeout(60*time.Second).WithPolling(500*time.Millisecond).Should(BeEmpty(),
				"round %d: approvals not completed after the restart", round)
			Eventually(func() int {
				resp, err := client.Get(url + "/readyz")
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Equal(http.StatusOK))
		}
		// Payments confirmed after the last restart complete as well.
		id := pay("buyer-after")
		Expect(id).NotTo(BeEmpty())
		Eventually(func() bool { return done(id) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeTrue())
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Expect(cmd.Wait()).To(Succeed())
		Expect(len(approved)).To(BeNumerically(">", rounds), "the load approved payments in most rounds")
	}, SpecTimeout(10*time.Minute))
})

// paymentd with KAFKA_BROKERS, on every backend: kfake and a real Apache Kafka broker (the
// test process's, stopped after the suite).
var _ = AfterSuite(func() { Expect(brokertest.StopShared()).To(Succeed()) })

var _ = func() bool {
	for _, backend := range kafkatest.Backends() {
		Describe("paymentd when the broker stops taking approvals, on "+backend.Name, func() {
			It("answers not ready within seconds, naming the forwarder, and ready again once the broker resumes", func(ctx SpecContext) {
				cluster, err := backend.Start(ctx)
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(cluster.Close)
				inst := startPaymentd(map[string]string{"KAFKA_BROKERS": strings.Join(cluster.Brokers(), ",")})
				DeferCleanup(inst.stop)
				readyz := readyzOf(inst)
				Eventually(readyz).WithContext(ctx).WithTimeout(30 * time.Second).Should(HavePrefix("200"))

				// From now on the broker holds every produce request of the forwarder (its
				// transactional id; produce v13 names topics by id only).
				resume, err := cluster.HoldProduce("paystream-forwarder")
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(resume) // before the cluster closes
				orderID, key, amount := checkoutAndAuthorise(inst)
				Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
				held := time.Now()
				Eventually(readyz).WithContext(ctx).WithTimeout(15 * time.Second).WithPolling(250 * time.Millisecond).
					Should(And(HavePrefix("503"), ContainSubstring("follower forwarder stalled")))
				GinkgoWriter.Printf("not ready %s after the broker began to hold the approval\n", time.Since(held).Round(100*time.Millisecond))

				resume()
				Eventually(readyz).WithContext(ctx).WithTimeout(30 * time.Second).Should(HavePrefix("200"))
				Eventually(func(g Gomega) {
					recs, err := kafkatest.ReadCommitted(ctx, cluster.Brokers(), kafkamsg.TopicApproved)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(recs).To(HaveLen(1), "the approval, once")
					g.Expect(string(recs[0].Key)).To(Equal(orderID))
				}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			})
		})
	}
	return true
}()

// authorizing gives requests to paymentd at host the key their path needs (authorize).
type authorizing struct {
	host string
	base http.RoundTripper
}

func (a authorizing) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == a.host {
		req = req.Clone(req.Context())
		authorize(req)
	}
	return a.base.RoundTrip(req)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
