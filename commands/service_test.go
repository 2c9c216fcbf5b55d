package commands_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

const simKey = "test_sk_commands_spec"

var _ = Describe("Service against the Toss simulator", func() {
	var (
		sim     *tosssim.Simulator
		simSrv  *httptest.Server
		store   *embedded.Store
		svc     *commands.Service
		meta    = commands.Meta{CorrelationID: "req-1", Actor: "spec"}
		newSvc  func(key toss.SecretKey, retry commands.Retry, confirmTimeout time.Duration) *commands.Service
		buy     func(ctx context.Context, key string) commands.Payment
		session func(p commands.Payment) string
	)

	BeforeEach(func() {
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 7})
		simSrv = httptest.NewServer(sim)
		DeferCleanup(simSrv.Close)
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		newSvc = func(key toss.SecretKey, retry commands.Retry, confirmTimeout time.Duration) *commands.Service {
			return commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(simSrv.URL, key)), Catalog: products,
				Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil)), Retry: retry, ConfirmTimeout: confirmTimeout})
		}
		svc = newSvc(simKey, commands.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond}, 3*time.Second)
		buy = func(ctx context.Context, key string) commands.Payment {
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", IdempotencyKey: key, Items: []commands.Item{
				{ProductID: "book-kia", Quantity: 1}, {ProductID: "mug-gopher", Quantity: 2}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			return p
		}
		session = func(p commands.Payment) string {
			key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
			Expect(err).NotTo(HaveOccurred())
			return key
		}
	})

	confirmReq := func(p commands.Payment, paymentKey string) commands.ConfirmRequest {
		return commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: paymentKey, Amount: p.TotalAmount}
	}

	Describe("Checkout", func() {
		It("prices the items from the catalog and names the order like Toss", func(ctx SpecContext) {
			p := buy(ctx, "")
			Expect(p.TotalAmount).To(Equal(decimal.NewFromInt(36000 + 2*12500)))
			Expect(p.OrderName).To(Equal("Kotlin in Action 외 1건"))
			Expect(aggregate.ValidOrderID(p.OrderID)).To(BeTrue())
			Expect(p.Orders).To(HaveLen(2))
			Expect(p.Orders[1].SellerID).To(Equal("seller-2"))
			Expect(p.Status).To(Equal(aggregate.StatusNotStarted))
		})

		It("returns the first payment for a repeated Idempotency-Key, and refuses the key for another request", func(ctx SpecContext) {
			first := buy(ctx, "checkout-key-1")
			again := buy(ctx, "checkout-key-1")
			Expect(again.OrderID).To(Equal(first.OrderID))
			Expect(again.Revision).To(Equal(first.Revision))
			_, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", IdempotencyKey: "checkout-key-1",
				Items: []commands.Item{{ProductID: "sticker-pack", Quantity: 1}}}, meta)
			Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
		})

		It("names an unknown product", func(ctx SpecContext) {
			_, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{{ProductID: "nope", Quantity: 1}}}, meta)
			var ve *aggregate.ValidationError
			Expect(errors.As(err, &ve)).To(BeTrue())
			Expect(ve.Field).To(Equal("items[0].productId"))
		})
	})

	Describe("Confirm", func() {
		It("records the approval with evidence and metadata, once", func(ctx SpecContext) {
			p := buy(ctx, "")
			got, err := svc.Confirm(ctx, confirmReq(p, session(p)), meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusSuccess))
			Expect(got.Outcome.Rule).To(Equal(toss.RuleDoneMatching))
			Expect(got.Method).To(Equal("CARD"))
			Expect(sim.Approvals(p.OrderID)).To(Equal(1))

			history, err := svc.Events(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			var types []string
			for _, e := range history {
				types = append(types, e.Type)
				var md commands.EventMetadata
				Expect(json.Unmarshal(e.Metadata, &md)).To(Succeed())
				Expect(md.CorrelationID).To(Equal("req-1"))
				Expect(md.Actor).To(Equal("spec"))
				Expect(md.SchemaVersion).To(Equal(commands.SchemaVersion))
				Expect(md.CausationID).NotTo(BeEmpty())
			}
			Expect(types).To(Equal([]string{aggregate.NameCheckoutCreated, aggregate.NameExecutionStarted, aggregate.NamePspApproved}))
			var md commands.EventMetadata
			Expect(json.Unmarshal(history[2].Metadata, &md)).To(Succeed())
			Expect(md.CausationID).To(Equal(history[1].ID.String()), "the outcome is caused by the execution")

			// Each event is chained to the one before it; the stream verifies intact.
			prev := ""
			for _, e := range history {
				var md commands.EventMetadata
				Expect(json.Unmarshal(e.Metadata, &md)).To(Succeed())
				Expect(md.PrevHash).To(Equal(prev))
				Expect(md.Hash).To(HavePrefix("sha256:"))
				prev = md.Hash
				again, err := json.Marshal(md)
				Expect(err).NotTo(HaveOccurred())
				Expect(string(e.Metadata)).To(Equal(string(again)), "sealed metadata is what one encoding writes")
			}
			rep := audit.VerifyStream(history[0].Stream, history, nil)
			Expect(rep.Intact).To(BeTrue(), "%+v", rep.Findings)
			Expect(rep.PreChain).To(BeZero())
		})

		It("answers a recorded outcome again without calling Toss", func(ctx SpecContext) {
			p := buy(ctx, "")
			req := confirmReq(p, session(p))
			_, err := svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())
			again, err := svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(again.Status).To(Equal(aggregate.StatusSuccess))
			Expect(sim.ConfirmRequests(p.OrderID)).To(Equal(1))
		})

		It("lets exactly one of 50 concurrent confirms reach Toss, and the others agree", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{LatencyMin: 20 * time.Millisecond, LatencyMax: 20 * time.Millisecond})
			p := buy(ctx, "")
			req := confirmReq(p, session(p))
			var wg sync.WaitGroup
			var mu sync.Mutex
			outcomes := map[string]int{}
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer GinkgoRecover()
					got, err := svc.Confirm(ctx, req, meta)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case errors.Is(err, aggregate.ErrExecuting):
						outcomes["executing"]++
					case err == nil:
						outcomes[string(got.Status)]++
					default:
						Fail("unexpected error: " + err.Error())
					}
				}()
			}
			wg.Wait()
			Expect(sim.ConfirmRequests(p.OrderID)).To(Equal(1))
			Expect(sim.Approvals(p.OrderID)).To(Equal(1))
			Expect(outcomes["SUCCESS"]).To(BeNumerically(">=", 1))
			Expect(outcomes["SUCCESS"] + outcomes["executing"]).To(Equal(50))
		})

		It("records a tampered amount as FAILURE without calling Toss", func(ctx SpecContext) {
			p := buy(ctx, "")
			req := confirmReq(p, session(p))
			req.Amount = decimal.NewFromInt(100)
			got, err := svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusFailure))
			Expect(got.Outcome.Code).To(Equal(aggregate.CodeAmountMismatch))
			Expect(sim.ConfirmRequests(p.OrderID)).To(BeZero())
		})

		It("refuses the same Idempotency-Key with a different body", func(ctx SpecContext) {
			p := buy(ctx, "")
			req := confirmReq(p, session(p))
			req.IdempotencyKey = "confirm-key-1"
			_, err := svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())
			req.PaymentKey = "another-key"
			_, err = svc.Confirm(ctx, req, meta)
			Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
		})

		It("refuses an Idempotency-Key already used for another payment, without calling Toss", func(ctx SpecContext) {
			first, second := buy(ctx, ""), buy(ctx, "")
			req := confirmReq(first, session(first))
			req.IdempotencyKey = "shared-key"
			_, err := svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())

			other := confirmReq(second, session(second))
			other.IdempotencyKey = "shared-key"
			_, err = svc.Confirm(ctx, other, meta)
			Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
			Expect(sim.ConfirmRequests(second.OrderID)).To(BeZero())
			got, err := svc.Load(ctx, second.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusNotStarted), "nothing recorded: the payment can still be confirmed")

			other.IdempotencyKey = "its-own-key"
			got, err = svc.Confirm(ctx, other, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		})

		It("refuses a checkout's Idempotency-Key on a confirm, and a confirm's on a checkout", func(ctx SpecContext) {
			p := buy(ctx, "checkout-key-9")
			req := confirmReq(p, session(p))
			req.IdempotencyKey = "checkout-key-9"
			_, err := svc.Confirm(ctx, req, meta)
			Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))

			req.IdempotencyKey = "confirm-key-9"
			_, err = svc.Confirm(ctx, req, meta)
			Expect(err).NotTo(HaveOccurred())
			_, err = svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", IdempotencyKey: "confirm-key-9",
				Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
			Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
		})

		It("lets a request refused by validation leave its Idempotency-Key unused", func(ctx SpecContext) {
			_, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", IdempotencyKey: "fix-and-retry",
				Items: []commands.Item{{ProductID: "no-such-product", Quantity: 1}}}, meta)
			Expect(err).To(MatchError(aggregate.ErrInvalid))
			_, err = svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", IdempotencyKey: "fix-and-retry",
				Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
			Expect(err).NotTo(HaveOccurred())
		})

		It("gives one Idempotency-Key to exactly one of many concurrent requests", func(ctx SpecContext) {
			payments := make([]commands.Payment, 8)
			for i := range payments {
				payments[i] = buy(ctx, "")
			}
			var wg sync.WaitGroup
			errs := make([]error, len(payments))
			for i, p := range payments {
				req := confirmReq(p, session(p))
				req.IdempotencyKey = "raced-key"
				wg.Go(func() { _, errs[i] = svc.Confirm(ctx, req, meta) })
			}
			wg.Wait()
			var won int
			for _, err := range errs {
				if err == nil {
					won++
				} else {
					Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
				}
			}
			Expect(won).To(Equal(1))
		})

		It("records Toss's rejection as FAILURE", func(ctx SpecContext) {
			p := buy(ctx, "")
			_, err := svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: "no-such-session", Amount: p.TotalAmount}, meta)
			Expect(err).NotTo(HaveOccurred())
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusFailure))
			Expect(got.Outcome.Rule).To(Equal(toss.RuleRejected))
		})

		Context("when Toss misbehaves", func() {
			It("finds the approval behind a dropped response through the idempotent retry", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{RateDropAfterApprove: 1})
				p := buy(ctx, "")
				req := confirmReq(p, session(p))
				done := make(chan struct{})
				go func() {
					// the first attempt is dropped; stop dropping so the retry gets Toss's stored answer
					defer close(done)
					Eventually(func() int { return sim.Approvals(p.OrderID) }).Should(Equal(1))
					sim.SetFaults(tosssim.Faults{})
				}()
				got, err := svc.Confirm(ctx, req, meta)
				<-done
				Expect(err).NotTo(HaveOccurred())
				Expect(sim.Approvals(p.OrderID)).To(Equal(1), "never charged twice")
				Expect(got.Status).To(BeElementOf(aggregate.StatusSuccess, aggregate.StatusUnknown))
				if got.Status == aggregate.StatusUnknown {
					Expect(got.Outcome.Rule).To(BeElementOf(toss.RuleTransport, toss.RuleTransient))
				}
			})

			It("records UNKNOWN when Toss never answers, and nothing was charged", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{RateTimeout: 1})
				svc = newSvc(simKey, commands.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond}, 500*time.Millisecond)
				p := buy(ctx, "")
				got, err := svc.Confirm(ctx, confirmReq(p, session(p)), meta)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Status).To(Equal(aggregate.StatusUnknown))
				Expect(got.Outcome.Rule).To(Equal(toss.RuleTransport))
				Expect(sim.Approvals(p.OrderID)).To(BeZero())
			})

			It("retries 5xx with backoff and records UNKNOWN when they persist", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{Rate5xx: 1})
				// Attempts get ample time: under -race on a busy machine a 300 ms attempt can
				// time out, and the verdict would then (rightly) say transport, not 5xx.
				svc = newSvc(simKey, commands.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: 2 * time.Second}, 3*time.Second)
				p := buy(ctx, "")
				got, err := svc.Confirm(ctx, confirmReq(p, session(p)), meta)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Status).To(Equal(aggregate.StatusUnknown))
				Expect(got.Outcome.Rule).To(Equal(toss.RuleTransient))
				Expect(sim.ConfirmRequests(p.OrderID)).To(BeNumerically(">", 1), "retried")
				Expect(sim.Approvals(p.OrderID)).To(BeZero())
			})

			It("lets an UNKNOWN payment be confirmed again with the same key, charging once", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{Rate5xx: 1})
				p := buy(ctx, "")
				req := confirmReq(p, session(p))
				got, err := svc.Confirm(ctx, req, meta)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Status).To(Equal(aggregate.StatusUnknown))
				sim.SetFaults(tosssim.Faults{})
				got, err = svc.Confirm(ctx, req, meta)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Status).To(Equal(aggregate.StatusSuccess))
				Expect(sim.Approvals(p.OrderID)).To(Equal(1))
			})

			It("keeps the payment retryable on a bad secret key, and alerts", func(ctx SpecContext) {
				p := buy(ctx, "")
				req := confirmReq(p, session(p))
				badSvc := newSvc("test_sk_wrong_key", commands.Retry{}, time.Second)
				got, err := badSvc.Confirm(ctx, req, meta)
				Expect(err).To(MatchError(commands.ErrPSPUnavailable))
				Expect(got.Status).To(Equal(aggregate.StatusNotStarted))
				Expect(got.OperatorAlert).To(BeTrue())
				sig := badSvc.Signals()
				Expect(sig.OperatorAlerts).To(BeEquivalentTo(1))
				Expect(sig.Outcomes[aggregate.StatusNotStarted]).To(BeEquivalentTo(1))
				Expect(sig.LastAlert).To(ContainSubstring("UNAUTHORIZED_KEY"))
				got, err = svc.Confirm(ctx, req, meta)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Status).To(Equal(aggregate.StatusSuccess))
			})
		})

		It("never charges twice and never records SUCCESS without an approval, whatever Toss does", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{RateTimeout: 0.2, Rate5xx: 0.2, RateDropAfterApprove: 0.2, RateProviderError: 0.1,
				LatencyMax: 5 * time.Millisecond})
			svc = newSvc(simKey, commands.Retry{Base: time.Millisecond, Max: 10 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond}, 400*time.Millisecond)
			var wg sync.WaitGroup
			payments := make([]commands.Payment, 60)
			for i := range payments {
				payments[i] = buy(ctx, "")
				req := confirmReq(payments[i], session(payments[i]))
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer GinkgoRecover()
					// a confirm and an impatient client's duplicate, racing
					_, _ = svc.Confirm(ctx, req, meta)
					_, _ = svc.Confirm(ctx, req, meta)
				}()
			}
			wg.Wait()
			outcomes := map[aggregate.Status]int{}
			for _, p := range payments {
				got, err := svc.Load(ctx, p.OrderID)
				Expect(err).NotTo(HaveOccurred())
				outcomes[got.Status]++
				approvals := sim.Approvals(p.OrderID)
				Expect(approvals).To(BeNumerically("<=", 1), "charged twice")
				if approvals == 1 {
					Expect(got.Status).To(BeElementOf(aggregate.StatusSuccess, aggregate.StatusUnknown), p.OrderID)
				} else {
					Expect(got.Status).To(BeElementOf(aggregate.StatusUnknown, aggregate.StatusFailure), p.OrderID)
				}
			}
			GinkgoWriter.Printf("outcomes under faults: %v\n", outcomes)
			Expect(outcomes[aggregate.StatusSuccess]).To(BeNumerically(">", 0))
		})

		It("records the outcome even when the caller hangs up", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{LatencyMin: 100 * time.Millisecond, LatencyMax: 100 * time.Millisecond})
			p := buy(ctx, "")
			req := confirmReq(p, session(p))
			callerCtx, hangUp := context.WithCancel(ctx)
			go func() {
				time.Sleep(20 * time.Millisecond)
				hangUp()
			}()
			_, _ = svc.Confirm(callerCtx, req, meta)
			Eventually(func() aggregate.Status {
				got, err := svc.Load(ctx, p.OrderID)
				Expect(err).NotTo(HaveOccurred())
				return got.Status
			}).Should(Equal(aggregate.StatusSuccess))
			Expect(sim.Approvals(p.OrderID)).To(Equal(1))
		})

		It("says not found for an unknown order", func(ctx SpecContext) {
			_, err := svc.Confirm(ctx, commands.ConfirmRequest{OrderID: "missing-order", PaymentKey: "pk", Amount: decimal.NewFromInt(1)}, meta)
			Expect(err).To(MatchError(aggregate.ErrNotFound))
		})
	})
})
