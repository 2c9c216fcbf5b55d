package forwarder_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/projections/forwarder"
)

// running is a forwarder started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(f *forwarder.Forwarder) running {
	ctx, cancel := context.WithCancel(context.Background())
	r := running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- f.Run(ctx) }()
	return r
}

func (r running) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("forwarder did not stop")
	}
}

// readCounting is the embedded store, counting stream reads.
type readCounting struct {
	*embedded.Store
	reads atomic.Int64
}

func (s *readCounting) ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	s.reads.Add(1)
	return s.Store.ReadStream(ctx, stream)
}

// forwarderSpecs are the forwarder's specs on one backend (see the suite: every backend).
var forwarderSpecs = func(backend kafkatest.Backend) {
	var (
		cluster kafkatest.Cluster
		brokers []string
		store   *embedded.Store
		total   decimal.Decimal
		orders  []string
	)

	newForwarder := func(opts ...forwarder.Option) *forwarder.Forwarder {
		return forwarder.New(store, kafka.Config{Brokers: brokers}, append([]forwarder.Option{forwarder.WithIdleCheckpoint(50 * time.Millisecond)}, opts...)...)
	}
	approve := func(ctx context.Context, from, n int) {
		for i := from; i < from+n; i++ {
			id := fmt.Sprintf("order-%04d", i)
			amt, err := kafkatest.AppendApproved(ctx, store, id, kafkatest.Line{SellerID: "s1", Amount: 1000 + int64(i)},
				kafkatest.Line{SellerID: "s2", Amount: 500})
			Expect(err).NotTo(HaveOccurred())
			total, orders = total.Add(amt), append(orders, id)
		}
	}
	// committed reads payments.approved read-committed and checks each approval is there once.
	committed := func(ctx context.Context) []kafkamsg.Approved {
		recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
		Expect(err).NotTo(HaveOccurred())
		var out []kafkamsg.Approved
		for _, r := range recs {
			a, err := kafkamsg.DecodeApproved(r.Value)
			Expect(err).NotTo(HaveOccurred())
			out = append(out, a)
		}
		return out
	}
	exactlyOnce := func(ctx context.Context) {
		Eventually(func(g Gomega) {
			got := committed(ctx)
			ids, sum := map[string]int{}, decimal.Zero
			for _, a := range got {
				ids[a.OrderID]++
				sum = sum.Add(a.TotalAmount)
			}
			g.Expect(ids).To(HaveLen(len(orders)))
			for _, id := range orders {
				g.Expect(ids[id]).To(Equal(1), "approvals of %s", id)
			}
			g.Expect(sum.Equal(total)).To(BeTrue(), "Σ approved %s, want %s", sum, total)
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
	}

	BeforeEach(func(ctx SpecContext) {
		var err error
		cluster, err = backend.Start(ctx)
		Expect(err).NotTo(HaveOccurred())
		brokers = cluster.Brokers()
		store = embedded.OpenMemory()
		total, orders = decimal.Zero, nil
		DeferCleanup(func() { store.Close(); cluster.Close() })
	})

	Context("with a healthy broker", func() {
		It("publishes each approval once, read committed, keyed by orderId with its orders and headers", func(ctx SpecContext) {
			approve(ctx, 0, 25)
			f := newForwarder()
			r := start(f)
			exactlyOnce(ctx)
			approve(ctx, 25, 10) // live events after the catch-up
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())

			recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
			Expect(err).NotTo(HaveOccurred())
			rec := recs[0]
			a, err := kafkamsg.DecodeApproved(rec.Value)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(rec.Key)).To(Equal(a.OrderID))
			Expect(a.Schema).To(Equal(kafkamsg.SchemaApproved))
			Expect(a.Orders).To(HaveLen(2))
			Expect(a.Orders[1]).To(MatchFields(IgnoreExtras, Fields{"Seq": Equal(2), "SellerID": Equal("s2"), "ProductID": Equal("p2")}))
			Expect(a.BuyerID).To(Equal("buyer-" + a.OrderID))
			Expect(a.PaymentKey).To(Equal("pk_" + a.OrderID))
			Expect(a.SourceEventID).NotTo(BeEmpty())
			Expect(string(rec.Value)).To(ContainSubstring(`"totalAmount":"`))
			headers := map[string]string{}
			for _, h := range rec.Headers {
				headers[h.Key] = string(h.Value)
			}
			Expect(headers).To(HaveKeyWithValue(kafkamsg.HeaderEventType, "payment.psp-approved.v1"))
			Expect(headers).To(HaveKeyWithValue(kafkamsg.HeaderEventID, a.SourceEventID))
			Expect(headers).To(HaveKeyWithValue(kafkamsg.HeaderCorrelationID, "corr-"+a.OrderID))
			Expect(f.Published()).To(BeEquivalentTo(35))
		})

		It("books a payment an operator resolved as SUCCESS like an approval, and not one resolved as FAILURE", func(ctx SpecContext) {
			resolved := func(id string, resolution aggregate.Status) {
				now := time.Now().UTC()
				amt := decimal.NewFromInt(7000)
				events := []aggregate.Event{
					aggregate.CheckoutCreated{OrderID: id, OrderName: "o", BuyerID: "b", TotalAmount: amt, At: now,
						Orders: []aggregate.OrderLine{{ProductID: "p1", SellerID: "s1", Quantity: 1, UnitPrice: amt, Amount: amt}}},
					aggregate.ExecutionStarted{PaymentKey: "pk_" + id, Amount: amt, PspIdempotencyKey: id, At: now},
					aggregate.PspOutcomeUnknown{Message: "timeout", Rule: "toss.v1/transport", At: now},
					aggregate.ManuallyResolved{Resolution: resolution, Actor: "ops", Reason: "checked", At: now},
				}
				var out []eventstore.Event
				for i, e := range events {
					name, data, err := aggregate.Encode(e)
					Expect(err).NotTo(HaveOccurred())
					out = append(out, eventstore.Event{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", id, i)), Type: name, Data: data})
				}
				_, err := store.Append(ctx, "payment-"+id, eventstore.NoStream, out)
				Expect(err).NotTo(HaveOccurred())
			}
			resolved("resolved-ok", aggregate.StatusSuccess)
			resolved("resolved-no", aggregate.StatusFailure)
			r := start(newForwarder())
			defer func() { Expect(r.stop()).To(Succeed()) }()
			Eventually(func() []string {
				var ids []string
				for _, a := range committed(ctx) {
					ids = append(ids, a.OrderID+" "+a.PaymentKey+" "+a.TotalAmount.String())
				}
				return ids
			}).WithTimeout(10 * time.Second).Should(Equal([]string{"resolved-ok pk_resolved-ok 7000"}))
		})

		It("publishes each refund and allocation once, after its approval, keyed by orderId", func(ctx SpecContext) {
			_, err := kafkatest.AppendApproved(ctx, store, "order-r", kafkatest.Line{SellerID: "s1", Amount: 1000},
				kafkatest.Line{SellerID: "s2", Amount: 2000})
			Expect(err).NotTo(HaveOccurred())
			now := time.Now().UTC()
			d := decimal.NewFromInt
			Expect(kafkatest.AppendEvents(ctx, store, "order-r", 2,
				aggregate.RefundRequested{RefundID: "order-r-1", Amount: d(1500), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(500)},
					{Seq: 2, Amount: d(1000)}}, Reason: "r", PspIdempotencyKey: "k1", At: now},
				aggregate.RefundApproved{RefundID: "order-r-1", TransactionKey: "tk1", CanceledAt: now, Rule: "fixture", At: now},
				aggregate.ExternalRefundRecorded{RefundID: "order-r-2", TransactionKey: "tk2", Amount: d(300), FoundBy: "lookup", CanceledAt: now, At: now},
				aggregate.RefundAllocated{RefundID: "order-r-2", Orders: []aggregate.RefundSplit{{Seq: 2, Amount: d(300)}}, Actor: "ops", Reason: "r", At: now},
			)).To(Succeed())
			r := start(newForwarder())
			defer func() { Expect(r.stop()).To(Succeed()) }()
			var got []string
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
				g.Expect(err).NotTo(HaveOccurred())
				got = nil
				var approvalID string
				for _, rec := range recs {
					g.Expect(string(rec.Key)).To(Equal("order-r"))
					switch kafkamsg.SchemaOf(rec.Value) {
					case kafkamsg.SchemaApproved:
						a, err := kafkamsg.DecodeApproved(rec.Value)
						g.Expect(err).NotTo(HaveOccurred())
						approvalID = a.MessageID()
						got = append(got, "approved "+a.TotalAmount.String())
					default:
						m, err := kafkamsg.DecodeRefunded(rec.Value)
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(m.ApprovalID).To(Equal(approvalID))
						line := m.Schema + " " + m.RefundID + " " + m.Amount.String()
						for _, o := range m.Orders {
							line += fmt.Sprintf(" %d:%s:%s", o.Seq, o.SellerID, o.Amount)
						}
						got = append(got, line)
					}
				}
				g.Expect(got).To(HaveLen(4))
			}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
			Expect(got).To(Equal([]string{"approved 3000",
				"payment.refunded.v1 order-r-1 1500 1:s1:500 2:s2:1000",
				"payment.refunded.v1 order-r-2 300",
				"payment.refund-allocated.v1 order-r-2 300 2:s2:300"}))
		})

		It("publishes a deposit Toss withdrew once, taking back the approval before it, and the next deposit's approval after it", func(ctx SpecContext) {
			_, err := kafkatest.AppendApproved(ctx, store, "order-w", kafkatest.Line{SellerID: "s1", Amount: 1000},
				kafkatest.Line{SellerID: "s2", Amount: 2000})
			Expect(err).NotTo(HaveOccurred())
			now := time.Now().UTC()
			d := decimal.NewFromInt
			Expect(kafkatest.AppendEvents(ctx, store, "order-w", 2,
				aggregate.DepositWithdrawn{WithdrawalID: "order-w-w1", Amount: d(3000), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(1000)},
					{Seq: 2, Amount: d(2000)}}, ApprovedAt: now, Rule: aggregate.RuleDepositWithdrawn, PspStatus: "WAITING_FOR_DEPOSIT", At: now},
				aggregate.PspApproved{PaymentKey: "pk-order-w", TotalAmount: d(3000), ApprovedAt: now, Rule: "fixture", At: now},
			)).To(Succeed())
			r := start(newForwarder())
			defer func() { Expect(r.stop()).To(Succeed()) }()
			var got []string
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
				g.Expect(err).NotTo(HaveOccurred())
				got = nil
				var approvals []string
				for _, rec := range recs {
					g.Expect(string(rec.Key)).To(Equal("order-w"))
					switch kafkamsg.SchemaOf(rec.Value) {
					case kafkamsg.SchemaApproved:
						a, err := kafkamsg.DecodeApproved(rec.Value)
						g.Expect(err).NotTo(HaveOccurred())
						approvals = append(approvals, a.MessageID())
						got = append(got, "approved "+a.TotalAmount.String())
					default:
						m, err := kafkamsg.DecodeWithdrawn(rec.Value)
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(approvals).NotTo(BeEmpty())
						g.Expect(m.ApprovalID).To(Equal(approvals[len(approvals)-1]), "the approval it takes back")
						line := m.Schema + " " + m.WithdrawalID + " " + m.Amount.String()
						for _, o := range m.Orders {
							line += fmt.Sprintf(" %d:%s:%s", o.Seq, o.SellerID, o.Amount)
						}
						got = append(got, line)
					}
				}
				g.Expect(got).To(HaveLen(3))
				g.Expect(approvals[0]).NotTo(Equal(approvals[1]), "the next deposit is a fresh approval")
			}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
			Expect(got).To(Equal([]string{"approved 3000",
				"payment.deposit-withdrawn.v1 order-w-w1 3000 1:s1:1000 2:s2:2000",
				"approved 3000"}))
		})

		It("builds approvals from the events it followed, reading a payment only for a later message (a refund)", func(ctx SpecContext) {
			counting := &readCounting{Store: store}
			approve(ctx, 0, 10)
			r := start(forwarder.New(counting, kafka.Config{Brokers: brokers}, forwarder.WithIdleCheckpoint(50*time.Millisecond)))
			exactlyOnce(ctx)
			approve(ctx, 10, 5) // live
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())
			Expect(counting.reads.Load()).To(BeZero())

			now, d := time.Now().UTC(), decimal.NewFromInt
			Expect(kafkatest.AppendEvents(ctx, store, "order-0003", 2,
				aggregate.RefundRequested{RefundID: "order-0003-1", Amount: d(700), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(200)},
					{Seq: 2, Amount: d(500)}}, Reason: "r", PspIdempotencyKey: "k1", At: now},
				aggregate.RefundApproved{RefundID: "order-0003-1", TransactionKey: "tk1", CanceledAt: now, Rule: "fixture", At: now},
			)).To(Succeed())
			r = start(forwarder.New(counting, kafka.Config{Brokers: brokers}, forwarder.WithIdleCheckpoint(50*time.Millisecond)))
			defer func() { Expect(r.stop()).To(Succeed()) }()
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
				g.Expect(err).NotTo(HaveOccurred())
				var approvalID string
				var refunds []kafkamsg.Refunded
				for _, rec := range recs {
					if string(rec.Key) != "order-0003" {
						continue
					}
					if kafkamsg.SchemaOf(rec.Value) == kafkamsg.SchemaApproved {
						a, err := kafkamsg.DecodeApproved(rec.Value)
						g.Expect(err).NotTo(HaveOccurred())
						approvalID = a.MessageID()
						continue
					}
					m, err := kafkamsg.DecodeRefunded(rec.Value)
					g.Expect(err).NotTo(HaveOccurred())
					refunds = append(refunds, m)
				}
				g.Expect(refunds).To(HaveLen(1))
				g.Expect(refunds[0].ApprovalID).To(Equal(approvalID))
				g.Expect(refunds[0].Orders).To(HaveLen(2))
				g.Expect(refunds[0].Orders[1].SellerID).To(Equal("s2"))
			}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
			Expect(counting.reads.Load()).To(BeEquivalentTo(1), "the refunded payment, once")
		})

		It("resumes from its checkpoint after a restart without publishing again", func(ctx SpecContext) {
			approve(ctx, 0, 10)
			r := start(newForwarder())
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())

			approve(ctx, 10, 5)
			f := newForwarder()
			r = start(f)
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())
			Expect(f.Published()).To(BeEquivalentTo(5))
		})
	})

	Context("when the forwarder dies between produce and commit", func() {
		It("the aborted approvals are invisible and the next forwarder publishes each once", func(ctx SpecContext) {
			approve(ctx, 0, 20)
			// The broker meets the first commit as it meets a forwarder that died there and was
			// restarted: the restart's producer aborts the open transaction.
			_, err := cluster.FenceCommit("paystream-forwarder", 1)
			Expect(err).NotTo(HaveOccurred())
			r := start(newForwarder(forwarder.WithMaxBatch(7)))
			Eventually(r.done).WithContext(ctx).WithTimeout(10 * time.Second).Should(Receive(HaveOccurred()))

			// Uncommitted approvals were produced, but read_committed sees none of them.
			Expect(committed(ctx)).To(BeEmpty())

			r = start(newForwarder(forwarder.WithMaxBatch(7)))
			approve(ctx, 20, 5)
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())
		})

		It("a failure after a committed batch loses nothing and repeats nothing", func(ctx SpecContext) {
			approve(ctx, 0, 30)
			_, err := cluster.FenceCommit("paystream-forwarder", 2) // dies at its second commit
			Expect(err).NotTo(HaveOccurred())
			f := newForwarder(forwarder.WithMaxBatch(10))
			r := start(f)
			Eventually(r.done).WithContext(ctx).WithTimeout(10 * time.Second).Should(Receive(HaveOccurred()))
			firstBatch := int(f.Published()) // a batch holds what was queued, up to 10
			Expect(firstBatch).To(BeNumerically(">", 0))
			Expect(len(committed(ctx))).To(Equal(firstBatch), "the first transaction's approvals, and none of the second's")

			r = start(newForwarder(forwarder.WithMaxBatch(10)))
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())
		})
	})

	Context("when the broker restarts", func() {
		It("keeps approvals and the checkpoint across kill -9", func(ctx SpecContext) {
			approve(ctx, 0, 10)
			r := start(newForwarder())
			exactlyOnce(ctx)
			Expect(cluster.Kill()).To(Succeed()) // the broker dies under a running forwarder
			Expect(r.stop()).To(Or(Succeed(), HaveOccurred()))

			Expect(cluster.Restart(ctx)).To(Succeed())
			approve(ctx, 10, 10)
			r = start(newForwarder())
			exactlyOnce(ctx)
			Expect(r.stop()).To(Succeed())
		})
	})

	Context("when a second forwarder with the same transactional id starts", func() {
		It("fences the first, which stops and reports, and the second carries on", func(ctx SpecContext) {
			approve(ctx, 0, 5)
			first := start(newForwarder())
			exactlyOnce(ctx)

			second := start(newForwarder())
			approve(ctx, 5, 5)
			exactlyOnce(ctx)
			// The first notices it was fenced only when it publishes after the second took the
			// transactional id over (at the second's first publish): approvals keep coming until
			// it has, whichever of the two wins each race.
			next := 10
			Eventually(func(g Gomega) {
				approve(ctx, next, 1)
				next++
				g.Expect(first.done).To(Receive(MatchError(kafka.ErrFenced)))
			}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
			exactlyOnce(ctx)
			Expect(second.stop()).To(Succeed())
		})
	})
}
