package readmodeltest

import (
	"context"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

// DescribeStore declares the conformance specs for the adapter newStore makes (a fresh,
// empty store per spec).
func DescribeStore(name string, newStore func(ctx context.Context) projections.Store) bool {
	return Describe(name+" read model conformance", func() {
		var (
			store projections.Store
			log   *Log
		)
		BeforeEach(func(ctx SpecContext) {
			store, log = newStore(ctx), NewLog()
		})
		commit := func(ctx context.Context, events ...eventstore.RecordedEvent) projections.Batch {
			GinkgoHelper()
			cp, err := store.Checkpoint(ctx)
			Expect(err).NotTo(HaveOccurred())
			b, err := store.Commit(ctx, cp, events)
			Expect(err).NotTo(HaveOccurred())
			return b
		}

		Context("when empty", func() {
			It("is at checkpoint 0 and knows no payment", func(ctx SpecContext) {
				Expect(store.Checkpoint(ctx)).To(BeZero())
				_, err := store.Payment(ctx, "order-missing")
				Expect(err).To(MatchError(projections.ErrNotFound))
				Expect(err).To(MatchError(aggregate.ErrNotFound))
				page, err := store.List(ctx, projections.Filter{})
				Expect(err).NotTo(HaveOccurred())
				Expect(page.Items).To(BeEmpty())
				Expect(page.NextCursor).To(BeEmpty())
			})
		})

		Context("when events are committed", func() {
			It("writes the same rows whether a payment's events share a batch or not", func(ctx SpecContext) {
				// Whole lives of 12 payments, interleaved, committed in batches of 7 events:
				// some payments are created and finished within one batch, others straddle
				// batches (updates, orders left unchanged by a batch).
				events := log.Interleaved(12, 4, 7)
				for i := 0; i < len(events); i += 7 {
					b := commit(ctx, events[i:min(i+7, len(events))]...)
					Expect(b.Poison).To(BeNil())
				}
				Expect(store.Checkpoint(ctx)).To(Equal(log.Position()))
				streams := map[string][]eventstore.RecordedEvent{}
				for _, e := range events {
					streams[projections.OrderIDOf(e.Stream)] = append(streams[projections.OrderIDOf(e.Stream)], e)
				}
				Expect(streams).To(HaveLen(12))
				for id, stream := range streams {
					p, err := store.Payment(ctx, id)
					Expect(err).NotTo(HaveOccurred())
					h, err := store.History(ctx, id)
					Expect(err).NotTo(HaveOccurred())
					Expect(projections.Diff(stream, &p, h)).To(BeEmpty(), "%s equals its events applied one at a time", id)
					Expect(p.IsPaymentDone).To(BeTrue())
					Expect(p.Orders).To(HaveEach(And(HaveField("LedgerUpdated", true), HaveField("WalletUpdated", true))))
				}
			})

			It("writes refunds as the projection computes them, and lists payments by the refund statuses", func(ctx SpecContext) {
				var events []eventstore.RecordedEvent
				streams := map[string][]eventstore.RecordedEvent{}
				add := func(id string, es ...eventstore.RecordedEvent) {
					events, streams[id] = append(events, es...), append(streams[id], es...)
				}
				add("order-c1", log.Paid("order-c1", "buyer-1", "seller-a", "seller-b")...)
				add("order-c2", log.Paid("order-c2", "buyer-1", "seller-a")...)
				add("order-c1", log.RefundRequested("order-c1", "r1", 1500, Split(2, 1500)), log.RefundApproved("order-c1", "r1"))
				add("order-c3", log.Paid("order-c3", "buyer-2", "seller-a", "seller-b")...)
				add("order-c2", log.RefundRequested("order-c2", "r1", 2000), log.RefundApproved("order-c2", "r1"),
					log.RefundBooked("order-c2", "r1", "ledger"))
				add("order-c1", log.RefundBooked("order-c1", "r1", "ledger"), log.RefundBooked("order-c1", "r1", "wallet"),
					log.RefundRequested("order-c1", "r2", 1000, Split(1, 1000)), log.RefundUnknown("order-c1", "r2"))
				add("order-c3", log.ExternalRefund("order-c3", "x1", 3000))
				add("order-c4", log.Paid("order-c4", "buyer-2", "seller-b")...)
				add("order-c4", log.RefundRequested("order-c4", "r1", 500, Split(1, 500)), log.RefundFailed("order-c4", "r1"))
				// Batches of 3: refunds written and changed within one batch and across batches.
				for i := 0; i < len(events); i += 3 {
					Expect(commit(ctx, events[i:min(i+3, len(events))]...).Poison).To(BeNil())
				}
				for id, stream := range streams {
					p, err := store.Payment(ctx, id)
					Expect(err).NotTo(HaveOccurred())
					h, err := store.History(ctx, id)
					Expect(err).NotTo(HaveOccurred())
					Expect(projections.Diff(stream, &p, h)).To(BeEmpty(), "%s equals its events applied one at a time", id)
				}

				c1, err := store.Payment(ctx, "order-c1")
				Expect(err).NotTo(HaveOccurred())
				s := projections.StateOf(c1) // what the API shows of the row
				Expect(s.Status).To(Equal(aggregate.StatusPartialCanceled))
				Expect(s.RefundedAmount.String()).To(Equal("1500"))
				Expect(s.BalanceAmount().String()).To(Equal("4500"))
				Expect(s.Orders[0]).To(And(HaveField("Status", aggregate.StatusSuccess), HaveField("Refunded.String()", "0")))
				Expect(s.Orders[1]).To(And(HaveField("Status", aggregate.StatusPartialCanceled), HaveField("Refunded.String()", "1500")))
				Expect(s.Refunds).To(HaveLen(2))
				Expect(s.Refunds[0]).To(And(HaveField("ID", "r1"), HaveField("Status", aggregate.StatusSuccess),
					HaveField("TransactionKey", "tx-r1"), HaveField("Reason", "단순변심"), HaveField("TaxFreeAmount.String()", "150"),
					HaveField("Booked()", true), HaveField("Orders", ConsistOf(HaveField("Seq", 2))),
					HaveField("Outcome.Rule", "toss.cancel.v1/done"), HaveField("CanceledAt", Not(BeNil()))))
				Expect(s.Refunds[1]).To(And(HaveField("ID", "r2"), HaveField("Status", aggregate.StatusUnknown),
					HaveField("Outcome.Code", "PROVIDER_ERROR"), HaveField("Booked()", false)))
				h, err := store.History(ctx, "order-c1")
				Expect(err).NotTo(HaveOccurred())
				Expect(h[len(h)-1]).To(And(HaveField("Seq", 2), HaveField("New", aggregate.StatusPartialCanceled),
					HaveField("Reason", "toss.cancel.v1/done")))

				c3, err := store.Payment(ctx, "order-c3")
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.StateOf(c3).Refunds).To(ConsistOf(And(HaveField("External", true), HaveField("FoundBy", "webhook"),
					HaveField("Orders", BeNil()))), "an external cancel whose split is unknown is unallocated")

				ids := func(st aggregate.Status) []string {
					GinkgoHelper()
					page, err := store.List(ctx, projections.Filter{Status: st})
					Expect(err).NotTo(HaveOccurred())
					var out []string
					for _, p := range page.Items {
						out = append(out, p.OrderID)
						Expect(projections.StateOf(p).Refunds).NotTo(BeEmpty(), "items come with their refunds")
					}
					return out
				}
				Expect(ids(aggregate.StatusPartialCanceled)).To(Equal([]string{"order-c1", "order-c3"}))
				Expect(ids(aggregate.StatusCanceled)).To(Equal([]string{"order-c2"}))
				Expect(ids(aggregate.StatusSuccess)).To(Equal([]string{"order-c4"}))

				allocated := log.RefundAllocated("order-c3", "x1", Split(1, 1000), Split(2, 2000))
				commit(ctx, allocated)
				c3, err = store.Payment(ctx, "order-c3")
				Expect(err).NotTo(HaveOccurred())
				h, err = store.History(ctx, "order-c3")
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.Diff(append(streams["order-c3"], allocated), &c3, h)).To(BeEmpty())
				Expect(projections.StateOf(c3).Orders).To(HaveEach(HaveField("Status", aggregate.StatusPartialCanceled)))
			})

			It("keeps a virtual account as the shop is shown it, never its secret's hash", func(ctx SpecContext) {
				due := time.Date(2026, 1, 9, 23, 59, 59, 0, time.UTC)
				events := []eventstore.RecordedEvent{log.Checkout("order-v1", "buyer-1", "seller-a", "seller-b"),
					log.Started("order-v1", 6000), log.Awaited("order-v1", 6000, due)}
				commit(ctx, events...)
				p, err := store.Payment(ctx, "order-v1")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))
				Expect(p.VirtualAccount).To(Equal(&projections.VirtualAccount{AccountType: "일반", BankCode: "20",
					AccountNumber: "X6505636518308", HolderName: "구매자", DueDate: due}))
				h, err := store.History(ctx, "order-v1")
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.Diff(events, &p, h)).To(BeEmpty(), "rows equal the pure projection")
				s := projections.StateOf(p)
				Expect(s.VirtualAccount).To(HaveField("SecretHash", BeEmpty()))
				Expect(s.DepositOverdue(due)).To(BeTrue())
				Expect(s.DepositOverdue(due.Add(-time.Second))).To(BeFalse())
				page, err := store.List(ctx, projections.Filter{Status: aggregate.StatusWaitingForDeposit})
				Expect(err).NotTo(HaveOccurred())
				Expect(page.Items).To(ConsistOf(HaveField("VirtualAccount.AccountNumber", "X6505636518308")), "items come with their account")

				events = append(events, log.Deposited("order-v1", 6000))
				commit(ctx, events[len(events)-1])
				p, err = store.Payment(ctx, "order-v1")
				Expect(err).NotTo(HaveOccurred())
				h, err = store.History(ctx, "order-v1")
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.Diff(events, &p, h)).To(BeEmpty())
				Expect(p.Status).To(Equal(aggregate.StatusSuccess))
				Expect(p.VirtualAccount).To(HaveField("DueDate", due), "kept after the deposit: its refunds need it")
			})

			It("lists exactly the payments waiting for a deposit due by each time, earliest due first, a page at a time", func(ctx SpecContext) {
				day := time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)
				histories := map[string][]eventstore.RecordedEvent{}
				record := func(events ...eventstore.RecordedEvent) {
					for _, e := range events {
						id := projections.OrderIDOf(e.Stream)
						histories[id] = append(histories[id], e)
					}
					commit(ctx, events...)
				}
				waiting := func(id string, due time.Time) {
					record(log.Checkout(id, "b", "s"), log.Started(id, 2000), log.Awaited(id, 2000, due))
				}
				waiting("order-d3", day.Add(3*time.Hour))
				waiting("order-d1", day.Add(time.Hour))
				waiting("order-d2b", day.Add(2*time.Hour))
				waiting("order-d2a", day.Add(2*time.Hour)) // the same due date: by orderId
				waiting("order-d4", day.Add(4*time.Hour))
				waiting("order-d5", day.Add(-time.Hour))
				record(log.Deposited("order-d4", 2000)) // no longer waiting
				waiting("order-d6", day.Add(time.Hour))
				record(log.DepositExpired("order-d6", day.Add(time.Hour)))
				waiting("order-d7", day.Add(time.Hour))
				record(log.AccountClosed("order-d7"))
				record(log.Paid("order-d8", "b", "s")...)
				record(log.Checkout("order-d9", "b", "s"), log.Started("order-d9", 2000), log.Unknown("order-d9"))

				states := map[string]aggregate.State{}
				for id, events := range histories {
					var st aggregate.State
					for _, e := range events {
						var err error
						st, _, err = aggregate.EvolveStored(st, e.Type, e.Data)
						Expect(err).NotTo(HaveOccurred())
					}
					states[id] = st
				}
				var cutoffs []time.Time
				for h := -2; h <= 5; h++ {
					t := day.Add(time.Duration(h) * time.Hour)
					cutoffs = append(cutoffs, t, t.Add(-time.Microsecond), t.Add(time.Microsecond))
				}
				for _, cutoff := range cutoffs {
					want := []string{}
					for id, st := range states {
						if st.DepositOverdue(cutoff) {
							want = append(want, id)
						}
					}
					slices.SortFunc(want, func(a, b string) int {
						if c := states[a].VirtualAccount.DueDate.Compare(states[b].VirtualAccount.DueDate); c != 0 {
							return c
						}
						return strings.Compare(a, b)
					})
					got, cursor := []string{}, ""
					for pages := 0; ; pages++ {
						Expect(pages).To(BeNumerically("<", 10))
						ids, next, err := store.DepositsDue(ctx, cutoff, 2, cursor)
						Expect(err).NotTo(HaveOccurred())
						Expect(len(ids)).To(BeNumerically("<=", 2))
						got = append(got, ids...)
						if next == "" {
							break
						}
						cursor = next
					}
					Expect(got).To(Equal(want), "cutoff %s", cutoff)
					all, next, err := store.DepositsDue(ctx, cutoff, 0, "")
					Expect(err).NotTo(HaveOccurred())
					Expect(next).To(BeEmpty())
					Expect(all).To(Equal(want), "one page of the default size")
				}
				_, _, err := store.DepositsDue(ctx, day, 2, "not-a-cursor")
				Expect(err).To(MatchError(projections.ErrBadCursor))
			})

			It("writes the rows the projection computes, with the checkpoint", func(ctx SpecContext) {
				events := []eventstore.RecordedEvent{log.Checkout("order-0001", "buyer-1", "seller-a", "seller-b"),
					log.Started("order-0001", 6000), log.Approved("order-0001", 6000)}
				b := commit(ctx, events...)
				Expect(b.Applied).To(Equal(3))
				Expect(b.Poison).To(BeNil())
				Expect(store.Checkpoint(ctx)).To(Equal(log.Position()))

				p, err := store.Payment(ctx, "order-0001")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(aggregate.StatusSuccess))
				Expect(p.TotalAmount.String()).To(Equal("6000"))
				Expect(p.PaymentKey).To(Equal("pk_order-0001"))
				Expect(p.Method).To(Equal("카드"))
				Expect(p.Revision).To(BeEquivalentTo(2))
				Expect(p.Orders).To(HaveLen(2))
				Expect(p.Orders[1].SellerID).To(Equal("seller-b"))
				Expect(p.Orders[1].Amount.String()).To(Equal("4000"))
				Expect(p.Orders[1].Threshold).To(Equal(projections.DefaultThreshold))
				Expect(p.Evidence).To(MatchJSON(`{"status":"DONE","orderId":"order-0001"}`))

				h, err := store.History(ctx, "order-0001")
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.Diff(events, &p, h)).To(BeEmpty(), "rows equal the pure projection")
				Expect(h).To(HaveLen(6)) // 2 orders × (created, executing, success)
				Expect(h[5].New).To(Equal(aggregate.StatusSuccess))
				Expect(h[5].Reason).To(Equal("toss.v1/done"))
				Expect(h[5].Actor).To(Equal("spec"))
			})

			It("changes nothing for events the checkpoint already covers", func(ctx SpecContext) {
				events := []eventstore.RecordedEvent{log.Checkout("order-0002", "buyer-1", "seller-a"), log.Started("order-0002", 2000)}
				commit(ctx, events...)
				before, err := store.Payment(ctx, "order-0002")
				Expect(err).NotTo(HaveOccurred())
				b := commit(ctx, events...)
				Expect(b.Applied).To(BeZero())
				Expect(store.Payment(ctx, "order-0002")).To(Equal(before))
				Expect(store.History(ctx, "order-0002")).To(HaveLen(2))
			})

			It("refuses a commit whose starting checkpoint is stale", func(ctx SpecContext) {
				commit(ctx, log.Checkout("order-0003", "buyer-1", "seller-a"))
				_, err := store.Commit(ctx, 0, []eventstore.RecordedEvent{log.Started("order-0003", 2000)})
				Expect(err).To(MatchError(projections.ErrCheckpointMoved))
				Expect(store.Payment(ctx, "order-0003")).To(HaveField("Status", aggregate.StatusNotStarted))
			})

			It("stops at an unknown event type, keeping what came before it", func(ctx SpecContext) {
				first := log.Checkout("order-0004", "buyer-1", "seller-a")
				poison := log.Raw("order-0004", "payment.from-the-future.v9", []byte(`{}`))
				after := log.Started("order-0004", 2000)
				b := commit(ctx, first, poison, after)
				Expect(b.Poison).NotTo(BeNil())
				Expect(b.Poison.Event.Position).To(Equal(poison.Position))
				Expect(b.Poison).To(MatchError(aggregate.ErrUnknownEvent))
				Expect(b.Applied).To(Equal(1))
				Expect(store.Checkpoint(ctx)).To(Equal(first.Position))
				Expect(store.Payment(ctx, "order-0004")).To(HaveField("Revision", BeEquivalentTo(0)))

				Expect(store.DeadLetter(ctx, projections.DeadLetterOf(b.Poison, time.Now()))).To(Succeed())
				Expect(store.DeadLetter(ctx, projections.DeadLetterOf(b.Poison, time.Now()))).To(Succeed())
				dead, err := store.DeadLetters(ctx)
				Expect(err).NotTo(HaveOccurred())
				Expect(dead).To(HaveLen(1))
				Expect(dead[0].Type).To(Equal("payment.from-the-future.v9"))
				Expect(dead[0].Error).To(ContainSubstring("unknown event type"))
			})

			It("refuses a gap in a payment's revisions", func(ctx SpecContext) {
				commit(ctx, log.Checkout("order-0005", "buyer-1", "seller-a"))
				log.Started("order-0005", 2000) // never delivered
				b := commit(ctx, log.Unknown("order-0005"))
				Expect(b.Poison).To(MatchError(ContainSubstring("does not follow")))
				Expect(b.Applied).To(BeZero())
			})
		})

		Context("when querying", func() {
			BeforeEach(func(ctx SpecContext) {
				commit(ctx,
					log.Checkout("order-a1", "buyer-1", "seller-a"),
					log.Checkout("order-a2", "buyer-2", "seller-b", "seller-a"),
					log.Checkout("order-a3", "buyer-1", "seller-b"),
					log.Started("order-a2", 6000),
					log.Checkout("order-a4", "buyer-1", "seller-a"),
					log.Started("order-a4", 2000),
					log.Unknown("order-a4"),
					log.Started("order-a3", 2000),
					log.Approved("order-a3", 2000),
				)
			})

			It("filters by status, seller, buyer and created range", func(ctx SpecContext) {
				ids := func(f projections.Filter) []string {
					GinkgoHelper()
					page, err := store.List(ctx, f)
					Expect(err).NotTo(HaveOccurred())
					var out []string
					for _, p := range page.Items {
						out = append(out, p.OrderID)
					}
					return out
				}
				Expect(ids(projections.Filter{})).To(Equal([]string{"order-a1", "order-a2", "order-a3", "order-a4"}))
				Expect(ids(projections.Filter{Status: aggregate.StatusSuccess})).To(Equal([]string{"order-a3"}))
				Expect(ids(projections.Filter{SellerID: "seller-a"})).To(Equal([]string{"order-a1", "order-a2", "order-a4"}))
				Expect(ids(projections.Filter{BuyerID: "buyer-1", SellerID: "seller-b"})).To(Equal([]string{"order-a3"}))
				a2, err := store.Payment(ctx, "order-a2")
				Expect(err).NotTo(HaveOccurred())
				a4, err := store.Payment(ctx, "order-a4")
				Expect(err).NotTo(HaveOccurred())
				Expect(ids(projections.Filter{CreatedFrom: a2.CreatedAt, CreatedTo: a4.CreatedAt})).To(Equal([]string{"order-a2", "order-a3"}))
				page, err := store.List(ctx, projections.Filter{SellerID: "seller-a"})
				Expect(err).NotTo(HaveOccurred())
				Expect(page.Items[1].Orders).To(HaveLen(2), "items come with all their orders")
			})

			It("pages with an opaque cursor", func(ctx SpecContext) {
				var got []string
				f := projections.Filter{Limit: 3}
				for {
					page, err := store.List(ctx, f)
					Expect(err).NotTo(HaveOccurred())
					for _, p := range page.Items {
						got = append(got, p.OrderID)
					}
					if page.NextCursor == "" {
						break
					}
					f.Cursor = page.NextCursor
				}
				Expect(got).To(Equal([]string{"order-a1", "order-a2", "order-a3", "order-a4"}))
				_, err := store.List(ctx, projections.Filter{Cursor: "not-a-cursor"})
				Expect(err).To(MatchError(projections.ErrBadCursor))
			})

			It("finds payments due for recovery, oldest first", func(ctx SpecContext) {
				a2, err := store.Payment(ctx, "order-a2")
				Expect(err).NotTo(HaveOccurred())
				Expect(store.OpenForRecovery(ctx, a2.UpdatedAt, 10)).To(Equal([]string{"order-a4"}), "a2 is not older than the cutoff")
				Expect(store.OpenForRecovery(ctx, a2.UpdatedAt.Add(time.Microsecond), 10)).To(Equal([]string{"order-a2", "order-a4"}))
				Expect(store.OpenForRecovery(ctx, a2.UpdatedAt.Add(time.Microsecond), 1)).To(Equal([]string{"order-a2"}))
			})

			It("leaves escalated payments to operators", func(ctx SpecContext) {
				commit(ctx, log.Event("order-a4", aggregate.EscalatedToManual{Attempts: 5, Reason: "still UNKNOWN", At: log.Now()}))
				a2, err := store.Payment(ctx, "order-a2")
				Expect(err).NotTo(HaveOccurred())
				Expect(store.OpenForRecovery(ctx, a2.UpdatedAt.Add(time.Microsecond), 10)).To(Equal([]string{"order-a2"}))
			})

			It("lists exactly the payments the aggregate's rule calls open, at every cutoff", func(ctx SpecContext) {
				// Every shape a payment can be in, each payment's events kept to fold.
				histories := map[string][]eventstore.RecordedEvent{}
				record := func(events ...eventstore.RecordedEvent) {
					for _, e := range events {
						id := projections.OrderIDOf(e.Stream)
						histories[id] = append(histories[id], e)
					}
					commit(ctx, events...)
				}
				at := func() time.Time { return log.Now() }
				record(log.Checkout("order-r1", "b", "s"))
				record(log.Checkout("order-r2", "b", "s"), log.Started("order-r2", 2000))
				record(log.Checkout("order-r3", "b", "s"), log.Started("order-r3", 2000), log.Unknown("order-r3"))
				record(log.Checkout("order-r4", "b", "s"), log.Started("order-r4", 2000), log.Unknown("order-r4"),
					log.Event("order-r4", aggregate.RecoveryAttempted{Attempt: 1, Threshold: 5, Reason: "unknown", At: at()}))
				record(log.Checkout("order-r5", "b", "s"), log.Started("order-r5", 2000), log.Unknown("order-r5"),
					log.Event("order-r5", aggregate.EscalatedToManual{Attempts: 5, Reason: "still UNKNOWN", At: at()}))
				record(log.Checkout("order-r6", "b", "s"), log.Started("order-r6", 2000), log.Approved("order-r6", 2000))
				record(log.Checkout("order-r7", "b", "s"), log.Started("order-r7", 2000), log.Failed("order-r7"))
				record(log.Checkout("order-r8", "b", "s"), log.Event("order-r8", aggregate.CheckoutExpired{Reason: "late", At: at()}))
				record(log.Checkout("order-r9", "b", "s"), log.Started("order-r9", 2000), log.Unknown("order-r9"),
					log.Event("order-r9", aggregate.ManuallyResolved{Resolution: aggregate.StatusFailure, Actor: "ops", Reason: "r", At: at()}))
				record(log.Started("order-r2", 2000)) // a second execution of the stale one
				// Refunds: open ones (executing, then stale; unknown; claimed by recovery; a
				// second one after a settled one), escalated and settled ones.
				record(log.Paid("order-rq1", "b", "s")...)
				record(log.RefundRequested("order-rq1", "x", 1000))
				record(log.Paid("order-rq2", "b", "s")...)
				record(log.RefundRequested("order-rq2", "x", 1000), log.RefundUnknown("order-rq2", "x"))
				record(log.Paid("order-rq3", "b", "s")...)
				record(log.RefundRequested("order-rq3", "x", 1000), log.RefundUnknown("order-rq3", "x"), log.RefundRecovery("order-rq3", "x", 1))
				record(log.Paid("order-rq4", "b", "s")...)
				record(log.RefundRequested("order-rq4", "x", 1000), log.RefundUnknown("order-rq4", "x"), log.RefundEscalated("order-rq4", "x"))
				record(log.Paid("order-rq5", "b", "s")...)
				record(log.RefundRequested("order-rq5", "x", 1000), log.RefundApproved("order-rq5", "x"))
				record(log.Paid("order-rq6", "b", "s")...)
				record(log.RefundRequested("order-rq6", "x", 1000), log.RefundFailed("order-rq6", "x"), log.RefundRequested("order-rq6", "y", 500))
				record(log.Paid("order-rq7", "b", "s")...)
				record(log.ExternalRefund("order-rq7", "x", 2000))
				record(log.Paid("order-rq8", "b", "s")...)
				record(log.RefundRequested("order-rq8", "x", 1000), log.RefundUnknown("order-rq8", "x"),
					log.RefundResolved("order-rq8", "x", aggregate.StatusFailure))
				record(log.Paid("order-rq9", "b", "s")...)
				record(log.RefundRequested("order-rq9", "x", 1000), log.RefundUnknown("order-rq9", "x"), log.RefundEscalated("order-rq9", "x"),
					log.RefundResolved("order-rq9", "x", aggregate.StatusSuccess))
				record(log.RefundRequested("order-rq5", "y", 500), log.RefundRecovery("order-rq5", "y", 1)) // later than rq1's

				states := map[string]aggregate.State{}
				var cutoffs []time.Time
				for id, events := range histories {
					var st aggregate.State
					for _, e := range events {
						var err error
						st, _, err = aggregate.EvolveStored(st, e.Type, e.Data)
						Expect(err).NotTo(HaveOccurred())
					}
					// Read models keep times to the microsecond (PostgreSQL's precision).
					st.UpdatedAt = st.UpdatedAt.Truncate(time.Microsecond)
					st.ExecutionStartedAt = st.ExecutionStartedAt.Truncate(time.Microsecond)
					st.Refunds = slices.Clone(st.Refunds)
					times := []time.Time{st.UpdatedAt}
					for i := range st.Refunds {
						st.Refunds[i].UpdatedAt = st.Refunds[i].UpdatedAt.Truncate(time.Microsecond)
						times = append(times, st.Refunds[i].UpdatedAt)
					}
					states[id] = st
					for _, t := range times {
						cutoffs = append(cutoffs, t, t.Add(time.Microsecond), t.Add(-time.Microsecond))
					}
				}
				for _, cutoff := range cutoffs {
					var want []string
					for id, st := range states {
						if st.Open(cutoff) {
							want = append(want, id)
						}
					}
					slices.SortFunc(want, func(a, b string) int {
						if c := states[a].UpdatedAt.Compare(states[b].UpdatedAt); c != 0 {
							return c
						}
						return strings.Compare(a, b)
					})
					got, err := store.OpenForRecovery(ctx, cutoff, 100)
					Expect(err).NotTo(HaveOccurred())
					var mine []string // the BeforeEach's payments are pinned by the specs above
					for _, id := range got {
						if strings.HasPrefix(id, "order-r") {
							mine = append(mine, id)
						}
					}
					Expect(mine).To(Equal(want), "cutoff %s", cutoff)
				}
			})

			It("waits for a position to be applied", func(ctx SpecContext) {
				Expect(store.WaitFor(ctx, log.Position())).To(Succeed())
				next := log.Started("order-a1", 2000)
				short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				defer cancel()
				Expect(store.WaitFor(short, next.Position)).To(MatchError(context.DeadlineExceeded))
				waited := make(chan error, 1)
				go func() { waited <- store.WaitFor(ctx, next.Position) }()
				commit(ctx, next)
				Eventually(waited).WithContext(ctx).Should(Receive(BeNil()))
			})

			It("returns every payment once while payments are written concurrently", func(ctx SpecContext) {
				writes := make(chan struct{})
				go func() {
					defer GinkgoRecover()
					defer close(writes)
					for i := range 40 {
						id := "order-w" + string(rune('a'+i/26)) + string(rune('a'+i%26))
						events := []eventstore.RecordedEvent{log.Checkout(id, "buyer-3", "seller-c"), log.Started(id, 2000)}
						commit(ctx, events...)
						commit(ctx, log.Event(id, aggregate.PspOutcomeUnknown{Rule: "r", At: time.Now()}))
					}
				}()
				seen := map[string]int{}
				f := projections.Filter{Limit: 2}
				for {
					page, err := store.List(ctx, f)
					Expect(err).NotTo(HaveOccurred())
					for _, p := range page.Items {
						seen[p.OrderID]++
					}
					if page.NextCursor == "" {
						break
					}
					f.Cursor = page.NextCursor
				}
				Eventually(writes).WithContext(ctx).Should(BeClosed())
				for _, id := range []string{"order-a1", "order-a2", "order-a3", "order-a4"} {
					Expect(seen).To(HaveKeyWithValue(id, 1))
				}
				for id, n := range seen {
					Expect(n).To(Equal(1), id)
				}
			})
		})
	})
}
