package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/toss"
)

// matcher is one run's working state.
type matcher struct {
	r        *Reconciler
	run      claimed
	start    time.Time
	end      time.Time
	known    map[string]string // mismatch id → the run that first found it
	payments map[string]*commands.Payment
	found    []Mismatch
	seen     map[string]bool // mismatch ids found in this run
	matched  int
}

// reconcile does a claimed run's work; the caller records it.
func (r *Reconciler) reconcile(ctx context.Context, run claimed, prev *Report, progress func(Progress)) (Report, error) {
	m := &matcher{r: r, run: run, start: run.Period.start(), end: run.Period.end(), known: map[string]string{},
		payments: map[string]*commands.Payment{}, seen: map[string]bool{}}
	if prev != nil {
		for _, f := range prev.Mismatches {
			m.known[f.ID] = f.FirstFoundIn
		}
	}
	rep := Report{RunID: run.RunID, Stream: run.stream, Period: run.Period, Run: run.Run, StartedBy: run.Actor, StartedAt: run.StartedAt,
		Mismatches: []Mismatch{}, Settlements: []SettlementRecorded{}}

	// Toss's side, a margin either side of the period so that a clock skew at midnight is no
	// mismatch; only the period's own transactions are judged.
	progress(Progress{Phase: "transactions"})
	wide, err := r.cfg.Toss.AllTransactions(ctx, m.start.Add(-r.cfg.Margin), m.end.Add(r.cfg.Margin).Add(-time.Second), 0,
		func(n int) { progress(Progress{Phase: "transactions", Done: n}) })
	if err != nil {
		return rep, err
	}
	progress(Progress{Phase: "settlements"})
	settlements, err := r.cfg.Toss.AllSettlements(ctx, m.start, m.lastDay(), toss.SoldDate, 0,
		func(n int) { progress(Progress{Phase: "settlements", Done: n}) })
	if err != nil {
		return rep, err
	}
	tossKeys := map[string]toss.Transaction{}
	approvedAtToss := map[string]bool{}
	var inPeriod []toss.Transaction
	for _, t := range wide {
		tossKeys[t.TransactionKey] = t
		if t.Status == toss.StatusDone {
			approvedAtToss[t.OrderID] = true
		}
		if !t.TransactionAt.Before(m.start) && t.TransactionAt.Before(m.end) {
			inPeriod = append(inPeriod, t)
		}
	}

	// Our side: the payments created in the period or up to Lookback before it (a refund
	// in the period may be of an older payment).
	ours, err := m.listOurs(ctx)
	if err != nil {
		return rep, err
	}
	total := len(inPeriod) + len(ours)
	for i, t := range inPeriod {
		if err := m.judgeTransaction(ctx, t); err != nil {
			return rep, err
		}
		progress(Progress{Phase: "payments", Done: i + 1, Of: total})
	}
	for i, id := range ours {
		if err := m.judgeOurs(ctx, id, tossKeys, approvedAtToss); err != nil {
			return rep, err
		}
		progress(Progress{Phase: "payments", Done: len(inPeriod) + i + 1, Of: total})
	}
	for _, s := range settlements {
		if err := m.judgeSettlement(ctx, s); err != nil {
			return rep, err
		}
		rep.Settlements = append(rep.Settlements, settlementOf(s))
	}
	m.fix(ctx, tossKeys, progress)
	rep.Mismatches = append(rep.Mismatches, m.found...)

	if r.cfg.Books != nil && len(rep.Settlements) > 0 {
		if err := r.cfg.Books.BookSettlements(ctx, run.RunID, rep.Settlements); err != nil {
			return rep, fmt.Errorf("book settlements: %w", err)
		}
	}
	totals, err := m.totals(ctx, ours, rep.Settlements)
	if err != nil {
		return rep, err
	}
	c := RunCompleted{RunID: run.RunID, Transactions: len(inPeriod), Payments: len(m.payments), Matched: m.matched,
		Settlements: len(settlements), ByClass: map[Class]int{}, Totals: totals, FinishedAt: r.cfg.Now().UTC()}
	for _, f := range m.found {
		c.ByClass[f.Class]++
		if f.FirstFoundIn == run.RunID {
			c.New++
		}
		if f.Fix != nil && f.Fix.Fixed {
			c.Fixed++
		}
	}
	net := totals.Approved.Sub(totals.Refunded)
	c.TiesOut = net.Equal(totals.Settled) && totals.Settled.Equal(sum(totals.PayOut, totals.Fees, totals.VAT))
	rep.Completed = c
	return rep, nil
}

func (m *matcher) lastDay() time.Time { return m.run.Period.lastDay() }

// listOurs lists the orderIds of the payments that may have moved money in the period.
func (m *matcher) listOurs(ctx context.Context) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		page, next, err := m.r.cfg.Directory.Created(ctx, m.start.Add(-m.r.cfg.Lookback), m.end, cursor)
		if err != nil {
			return nil, fmt.Errorf("list payments: %w", err)
		}
		ids = append(ids, page...)
		if next == "" {
			return ids, nil
		}
		cursor = next
	}
}

// load returns the payment of orderID from its stream (nil: none), once per run.
func (m *matcher) load(ctx context.Context, orderID string) (*commands.Payment, error) {
	if p, ok := m.payments[orderID]; ok {
		return p, nil
	}
	p, err := m.r.cfg.Payments.Load(ctx, orderID)
	switch {
	case errors.Is(err, aggregate.ErrNotFound):
		m.payments[orderID] = nil
		return nil, nil
	case err != nil:
		return nil, err
	}
	m.payments[orderID] = &p
	return &p, nil
}

// mismatch records a finding once per run.
func (m *matcher) mismatch(f MismatchFound) {
	if m.seen[f.ID] {
		return
	}
	m.seen[f.ID] = true
	f.FirstFoundIn = m.run.RunID
	if first, ok := m.known[f.ID]; ok && first != "" {
		f.FirstFoundIn = first
	}
	m.found = append(m.found, Mismatch{MismatchFound: f, RunID: m.run.RunID, Period: m.run.Period})
}

func amount(d decimal.Decimal) *decimal.Decimal { return &d }

func mismatchID(k Kind, key string) string { return string(k) + ":" + key }

// judgeTransaction matches one of Toss's transactions in the period against our stream.
func (m *matcher) judgeTransaction(ctx context.Context, t toss.Transaction) error {
	p, err := m.load(ctx, t.OrderID)
	if err != nil {
		return err
	}
	base := MismatchFound{OrderID: t.OrderID, PaymentKey: t.PaymentKey, TransactionKey: t.TransactionKey,
		TossAmount: amount(t.Amount), TossStatus: string(t.Status)}
	found := func(k Kind, c Class, detail string) {
		f := base
		f.ID, f.Kind, f.Class, f.Detail = mismatchID(k, t.TransactionKey), k, c, detail
		if p != nil {
			f.OurStatus = string(p.Status)
		}
		m.mismatch(f)
	}
	switch {
	case p == nil:
		found(PaymentNotHere, NeedsPerson, "Toss moved money for an order paystream has no payment of")
		return nil
	case p.PaymentKey != "" && t.PaymentKey != "" && p.PaymentKey != t.PaymentKey:
		found(Unrecognised, Unclassifiable, "Toss's transaction names paymentKey "+t.PaymentKey+", the payment "+p.PaymentKey)
		return nil
	}
	switch t.Status {
	case toss.StatusDone:
		m.judgeApproval(p, t, base, found)
	case toss.StatusCanceled, toss.StatusPartialCanceled:
		m.judgeCancel(p, t, base, found)
	default:
		found(Unrecognised, Unclassifiable, "a transaction of status "+string(t.Status)+" is not one the reconciler judges")
	}
	return nil
}

func (m *matcher) judgeApproval(p *commands.Payment, t toss.Transaction, base MismatchFound, found func(Kind, Class, string)) {
	switch {
	case p.Status.Approved():
		if !p.ConfirmedAmount.Equal(t.Amount) {
			base.OurAmount = amount(p.ConfirmedAmount)
			f := base
			f.ID, f.Kind, f.Class, f.OurStatus = mismatchID(AmountDiffers, t.TransactionKey), AmountDiffers, NeedsPerson, string(p.Status)
			f.Detail = fmt.Sprintf("Toss approved %s KRW, the payment recorded %s KRW", t.Amount, p.ConfirmedAmount)
			m.mismatch(f)
			return
		}
		m.matched++
	case p.Escalated:
		found(ApprovalNotSettled, NeedsPerson, "Toss approved it; recovery escalated the payment to a person")
	case p.Status == aggregate.StatusWaitingForDeposit, p.Status == aggregate.StatusUnknown, p.Status == aggregate.StatusExecuting:
		found(ApprovalNotSettled, AutoFixable, "Toss approved it; the payment is still "+string(p.Status))
	default:
		found(StatusDiffers, NeedsPerson, "Toss approved it; the payment recorded "+string(p.Status))
	}
}

func (m *matcher) judgeCancel(p *commands.Payment, t toss.Transaction, base MismatchFound, found func(Kind, Class, string)) {
	for _, r := range p.Refunds {
		if r.TransactionKey != t.TransactionKey {
			continue
		}
		switch {
		case r.Status == aggregate.StatusSuccess && !r.Amount.Equal(t.Amount):
			f := base
			f.ID, f.Kind, f.Class, f.OurStatus, f.OurAmount = mismatchID(AmountDiffers, t.TransactionKey), AmountDiffers, NeedsPerson,
				string(r.Status), amount(r.Amount)
			f.Detail = fmt.Sprintf("Toss cancelled %s KRW, refund %s recorded %s KRW", t.Amount, r.ID, r.Amount)
			m.mismatch(f)
		case r.Status == aggregate.StatusSuccess:
			m.matched++
		case r.Open():
			found(RefundNotSettled, AutoFixable, "Toss cancelled it; refund "+r.ID+" is still "+string(r.Status))
		default:
			found(StatusDiffers, NeedsPerson, "Toss cancelled it; refund "+r.ID+" recorded "+string(r.Status))
		}
		return
	}
	if r, open := p.OpenRefund(); open {
		found(RefundNotSettled, AutoFixable, "Toss cancelled it; refund "+r.ID+" is still "+string(r.Status)+" and may be it")
		return
	}
	found(CancelNotRecorded, AutoFixable, "cancelled at Toss (its console or a card company), not recorded")
}

// judgeOurs looks for what we recorded in the period that Toss does not list.
func (m *matcher) judgeOurs(ctx context.Context, orderID string, tossKeys map[string]toss.Transaction, approvedAtToss map[string]bool) error {
	p, err := m.load(ctx, orderID)
	if err != nil || p == nil {
		return err
	}
	if approvedIn(p.State, m.start, m.end) && !approvedAtToss[orderID] {
		m.mismatch(MismatchFound{ID: mismatchID(ApprovalNotAtToss, orderID), Kind: ApprovalNotAtToss, Class: NeedsPerson,
			OrderID: orderID, PaymentKey: p.PaymentKey, OurAmount: amount(p.ConfirmedAmount), OurStatus: string(p.Status),
			Detail: "the payment recorded an approval Toss does not list"})
	}
	for _, r := range p.Refunds {
		if r.Status != aggregate.StatusSuccess || !refundedIn(r, m.start, m.end) {
			continue
		}
		if _, ok := tossKeys[r.TransactionKey]; ok && r.TransactionKey != "" {
			continue
		}
		m.mismatch(MismatchFound{ID: mismatchID(RefundNotAtToss, orderID+"/"+r.ID), Kind: RefundNotAtToss, Class: NeedsPerson,
			OrderID: orderID, PaymentKey: p.PaymentKey, TransactionKey: r.TransactionKey, OurAmount: amount(r.Amount),
			OurStatus: string(r.Status), Detail: "refund " + r.ID + " is recorded as refunded; Toss lists no such cancel"})
	}
	return nil
}

// refundedIn reports whether a refund's cancel falls in [start, end).
func refundedIn(r aggregate.Refund, start, end time.Time) bool {
	at := r.UpdatedAt
	if r.CanceledAt != nil {
		at = *r.CanceledAt
	}
	return !at.Before(start) && at.Before(end)
}

// judgeSettlement checks one settlement row: its figures add up, and it settles what we
// recorded.
func (m *matcher) judgeSettlement(ctx context.Context, s toss.Settlement) error {
	id := mismatchID(SettlementDiffers, s.TransactionKey)
	base := MismatchFound{ID: id, Kind: SettlementDiffers, Class: NeedsPerson, OrderID: s.OrderID, PaymentKey: s.PaymentKey,
		TransactionKey: s.TransactionKey, TossAmount: amount(s.Amount)}
	if figures := sum(s.PayOutAmount, s.SupplyAmount, s.VAT, s.InterestFee); !figures.Equal(s.Amount) {
		f := base
		f.Detail = fmt.Sprintf("Toss settles %s KRW but pays out %s with fees %s and VAT %s (%s)", s.Amount, s.PayOutAmount,
			s.SupplyAmount, s.VAT, figures)
		m.mismatch(f)
		return nil
	}
	if m.seen[mismatchID(AmountDiffers, s.TransactionKey)] {
		return nil // the transaction's own mismatch says it
	}
	p, err := m.load(ctx, s.OrderID)
	if err != nil || p == nil {
		return err // an unknown payment is the transaction's mismatch
	}
	if s.Cancel == nil {
		if s.Amount.IsNegative() {
			return nil // a withdrawn deposit: its transaction's mismatch says it
		}
		if p.Status.Approved() && !p.ConfirmedAmount.Equal(s.Amount) {
			f := base
			f.OurAmount = amount(p.ConfirmedAmount)
			f.Detail = fmt.Sprintf("Toss settles %s KRW for the approval of %s KRW", s.Amount, p.ConfirmedAmount)
			m.mismatch(f)
		}
		return nil
	}
	for _, r := range p.Refunds {
		if r.TransactionKey == s.TransactionKey && r.Status == aggregate.StatusSuccess && !r.Amount.Neg().Equal(s.Amount) {
			f := base
			f.OurAmount = amount(r.Amount.Neg())
			f.Detail = fmt.Sprintf("Toss settles %s KRW for refund %s of %s KRW", s.Amount, r.ID, r.Amount)
			m.mismatch(f)
		}
	}
	return nil
}

func settlementOf(s toss.Settlement) SettlementRecorded {
	return SettlementRecorded{OrderID: s.OrderID, PaymentKey: s.PaymentKey, TransactionKey: s.TransactionKey,
		Method: string(s.Method), Amount: s.Amount, Fee: s.SupplyAmount, VAT: s.VAT, InterestFee: s.InterestFee,
		PayOut: s.PayOutAmount, SoldDate: s.SoldDate.Format(dateLayout), PaidOutDate: s.PaidOutDate.Format(dateLayout),
		Cancel: s.Cancel != nil}
}

// fix runs the command a person would for each auto-fixable mismatch (once per payment
// and command), with the reconciler as actor, then judges the payment again.
func (m *matcher) fix(ctx context.Context, tossKeys map[string]toss.Transaction, progress func(Progress)) {
	meta := commands.Meta{CorrelationID: m.run.RunID, Actor: m.r.cfg.Actor}
	type job struct{ orderID, command string }
	outcome := map[job]string{}
	failed := map[job]bool{}
	var todo []int
	for i, f := range m.found {
		if f.Class == AutoFixable {
			todo = append(todo, i)
		}
	}
	// Approvals before cancels: a cancel is recorded on an approved payment only.
	order := func(k Kind) int {
		if k == ApprovalNotSettled {
			return 0
		}
		return 1
	}
	for pass := range 2 {
		for n, i := range todo {
			f := &m.found[i]
			if order(f.Kind) != pass {
				continue
			}
			j := job{orderID: f.OrderID, command: commandFor(m.payments[f.OrderID], f.Kind)}
			if _, done := outcome[j]; !done {
				out, err := m.run1(ctx, j.orderID, j.command, meta)
				if err != nil {
					out, failed[j] = "error: "+err.Error(), true
				}
				outcome[j] = out
				delete(m.payments, f.OrderID) // judged again from its stream
			}
			p, err := m.load(ctx, f.OrderID)
			fixed := err == nil && p != nil && !failed[j] && agrees(p, f.MismatchFound, tossKeys)
			f.Fix = &MismatchFixed{ID: f.ID, OrderID: f.OrderID, Command: j.command, Fixed: fixed, Outcome: outcome[j],
				At: m.r.cfg.Now().UTC()}
			progress(Progress{Phase: "fixes", Done: n + 1, Of: len(todo)})
		}
	}
}

// commandFor is the command a person would use for an auto-fixable mismatch.
func commandFor(p *commands.Payment, k Kind) string {
	switch {
	case k == CancelNotRecorded:
		return "RecordExternalRefunds"
	case p != nil && p.Status == aggregate.StatusWaitingForDeposit:
		return "Reconcile"
	}
	return "Recover"
}

func (m *matcher) run1(ctx context.Context, orderID, command string, meta commands.Meta) (string, error) {
	svc := m.r.cfg.Payments
	switch command {
	case "RecordExternalRefunds":
		n, err := svc.RecordExternalRefunds(ctx, orderID, "reconciliation", meta)
		return fmt.Sprintf("recorded %d external refunds", n), err
	case "Reconcile":
		return svc.Reconcile(ctx, orderID, meta)
	default:
		res, _, err := svc.Recover(ctx, orderID, meta)
		return "recovery: " + string(res), err
	}
}

// agrees reports whether p now agrees with Toss on what f found.
func agrees(p *commands.Payment, f MismatchFound, tossKeys map[string]toss.Transaction) bool {
	t, ok := tossKeys[f.TransactionKey]
	if !ok {
		return false
	}
	switch f.Kind {
	case ApprovalNotSettled:
		return p.Status.Approved() && p.ConfirmedAmount.Equal(t.Amount)
	case CancelNotRecorded, RefundNotSettled:
		for _, r := range p.Refunds {
			if r.TransactionKey == t.TransactionKey && r.Status == aggregate.StatusSuccess {
				return r.Amount.Equal(t.Amount)
			}
		}
	}
	return false
}

// totals adds up what we recorded in the period (after the fixes) and what Toss settled.
func (m *matcher) totals(ctx context.Context, ours []string, settlements []SettlementRecorded) (Totals, error) {
	t := Totals{Approved: decimal.Zero, Refunded: decimal.Zero, Settled: decimal.Zero, Fees: decimal.Zero, VAT: decimal.Zero,
		PayOut: decimal.Zero}
	ids := map[string]bool{}
	for _, id := range ours {
		ids[id] = true
	}
	for id := range m.payments {
		ids[id] = true
	}
	for id := range ids {
		p, err := m.load(ctx, id)
		if err != nil {
			return t, err
		}
		if p == nil {
			continue
		}
		if approvedIn(p.State, m.start, m.end) {
			t.Approved = t.Approved.Add(p.ConfirmedAmount)
		}
		for _, r := range p.Refunds {
			if r.Status == aggregate.StatusSuccess && refundedIn(r, m.start, m.end) {
				t.Refunded = t.Refunded.Add(r.Amount)
			}
		}
	}
	for _, s := range settlements {
		t.Settled = t.Settled.Add(s.Amount)
		t.Fees = t.Fees.Add(s.Fee).Add(s.InterestFee)
		t.VAT = t.VAT.Add(s.VAT)
		t.PayOut = t.PayOut.Add(s.PayOut)
	}
	return t, nil
}
