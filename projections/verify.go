package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// StreamSource is what Verify needs of the event store.
type StreamSource interface {
	Source
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
}

// Verifiable is what Verify needs of a read model.
type Verifiable interface {
	Checkpoint(ctx context.Context) (eventstore.Position, error)
	List(ctx context.Context, f Filter) (Page, error)
	History(ctx context.Context, orderID string) ([]History, error)
}

// Drift is one payment whose rows differ from what its events say.
type Drift struct {
	OrderID string   `json:"orderId"`
	Diffs   []string `json:"diffs"`
}

// Report is the outcome of Verify.
type Report struct {
	Checkpoint eventstore.Position `json:"checkpoint"`
	Payments   int                 `json:"payments"`
	Events     int                 `json:"events"`
	Drift      []Drift             `json:"drift"`
}

var errStop = errors.New("stop")

// Verify re-folds every payment stream with Apply and diffs the result against the rows.
// It is safe while a projector runs: streams are read up to the checkpoint it saw first,
// and a row that has moved on since is compared with its stream up to the row's revision.
// Events after the checkpoint are lag, not drift.
func Verify(ctx context.Context, src StreamSource, rm Verifiable) (Report, error) {
	cp, err := rm.Checkpoint(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	rep := Report{Checkpoint: cp}
	streams := map[string][]eventstore.RecordedEvent{}
	if cp > 0 {
		err = src.Follow(ctx, 0, aggregate.StreamPrefix, func(ctx context.Context, e eventstore.RecordedEvent) error {
			if e.Position > cp {
				return errStop
			}
			id := OrderIDOf(e.Stream)
			streams[id] = append(streams[id], e)
			rep.Events++
			if e.Position == cp {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			return Report{}, fmt.Errorf("verify: read events up to %d: %w", cp, err)
		}
	}
	seen := map[string]bool{}
	f := Filter{Limit: MaxLimit}
	for {
		page, err := rm.List(ctx, f)
		if err != nil {
			return Report{}, fmt.Errorf("verify: list rows: %w", err)
		}
		for _, row := range page.Items {
			seen[row.OrderID] = true
			rep.Payments++
			events := streams[row.OrderID]
			if row.Position > cp { // moved on since we started: compare at the row's revision
				if events, err = src.ReadStream(ctx, aggregate.StreamName(row.OrderID)); err != nil {
					return Report{}, fmt.Errorf("verify: read %s: %w", row.OrderID, err)
				}
			}
			events = slices.DeleteFunc(slices.Clone(events), func(e eventstore.RecordedEvent) bool { return e.Revision > row.Revision })
			history, err := rm.History(ctx, row.OrderID)
			if err != nil {
				return Report{}, fmt.Errorf("verify: history %s: %w", row.OrderID, err)
			}
			history = slices.DeleteFunc(history, func(h History) bool { return h.Position > row.Position })
			if d := Diff(events, &row, history); len(d) > 0 {
				rep.Drift = append(rep.Drift, Drift{OrderID: row.OrderID, Diffs: d})
			}
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	var missing []string
	for id := range streams {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	for _, id := range missing {
		rep.Drift = append(rep.Drift, Drift{OrderID: id, Diffs: Diff(streams[id], nil, nil)})
	}
	return rep, nil
}

// Diff compares the rows a stream's events project to with the rows found (nil = none);
// each difference is one line "field: want …, got …".
func Diff(events []eventstore.RecordedEvent, row *Payment, history []History) []string {
	want, wantHistory, err := Project(events)
	var out []string
	if err != nil {
		out = append(out, "events do not project: "+err.Error())
	}
	w, g := fields(want, wantHistory), fields(row, history)
	keys := make([]string, 0, len(w)+len(g))
	for k := range w {
		keys = append(keys, k)
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if w[k] != g[k] {
			out = append(out, fmt.Sprintf("%s: want %s, got %s", k, orNone(w[k]), orNone(g[k])))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// fields flattens rows into comparable strings; decimals, times and JSON are canonical.
func fields(p *Payment, history []History) map[string]string {
	m := map[string]string{}
	if p == nil {
		return m
	}
	set := func(k string, v any) { m[k] = fmt.Sprint(v) }
	set("payment.order_id", p.OrderID)
	set("payment.payment_key", p.PaymentKey)
	set("payment.buyer_id", p.BuyerID)
	set("payment.order_name", p.OrderName)
	set("payment.total_amount", p.TotalAmount.String())
	set("payment.status", p.Status)
	set("payment.is_payment_done", p.IsPaymentDone)
	if p.ApprovedAt != nil {
		set("payment.approved_at", norm(*p.ApprovedAt).Format("2006-01-02T15:04:05.999999Z"))
	}
	set("payment.method", p.Method)
	set("payment.outcome", string(p.OutcomeStatus)+" "+p.OutcomeRule+" "+p.OutcomeCode+" "+p.OutcomeMessage)
	set("payment.psp_evidence", canonJSON(p.Evidence))
	set("payment.operator_alert", p.OperatorAlert)
	set("payment.executions", p.Executions)
	set("payment.escalated", p.Escalated)
	set("payment.expired", p.Expired)
	if p.CompletedAt != nil {
		set("payment.completed_at", norm(*p.CompletedAt).Format("2006-01-02T15:04:05.999999Z"))
	}
	set("payment.created_at", norm(p.CreatedAt).Format("2006-01-02T15:04:05.999999Z"))
	set("payment.updated_at", norm(p.UpdatedAt).Format("2006-01-02T15:04:05.999999Z"))
	set("payment.last_revision", p.Revision)
	set("payment.last_position", p.Position)
	set("payment.orders", len(p.Orders))
	for _, o := range p.Orders {
		set(fmt.Sprintf("order[%d]", o.Seq), strings.Join([]string{o.OrderID, o.BuyerID, o.SellerID, o.ProductID,
			fmt.Sprint(o.Quantity), o.UnitPrice.String(), o.Amount.String(), string(o.Status), fmt.Sprint(o.LedgerUpdated),
			fmt.Sprint(o.WalletUpdated), fmt.Sprint(o.FailedCount), fmt.Sprint(o.Threshold), o.Refunded.String()}, " "))
	}
	if va := p.VirtualAccount; va != nil {
		set("payment.virtual_account", fmt.Sprintf("%q %q %q %q %s", va.AccountType, va.BankCode, va.AccountNumber, va.HolderName,
			norm(va.DueDate).Format("2006-01-02T15:04:05.999999Z")))
	}
	set("payment.refunded_amount", p.RefundedAmount.String())
	set("payment.refunds", len(p.Refunds))
	for _, r := range p.Refunds {
		orders := "unallocated"
		if r.Orders != nil {
			parts := make([]string, len(r.Orders))
			for i, sp := range r.Orders {
				parts[i] = fmt.Sprintf("%d:%s", sp.Seq, sp.Amount)
			}
			orders = "[" + strings.Join(parts, ",") + "]"
		}
		canceled := ""
		if r.CanceledAt != nil {
			canceled = norm(*r.CanceledAt).Format("2006-01-02T15:04:05.999999Z")
		}
		set(fmt.Sprintf("refund[%s]", r.RefundID), strings.Join([]string{r.OrderID, fmt.Sprint(r.Seq), r.Amount.String(), orders,
			fmt.Sprintf("%q", r.Reason), r.TaxFreeAmount.String(), string(r.Status),
			fmt.Sprintf("%s %s %s %q", r.OutcomeStatus, r.OutcomeRule, r.OutcomeCode, r.OutcomeMessage), r.TransactionKey, canceled,
			fmt.Sprint(r.External), r.FoundBy, fmt.Sprint(r.FailedCount), fmt.Sprint(r.Threshold), fmt.Sprint(r.Escalated),
			fmt.Sprint(r.LedgerBooked), fmt.Sprint(r.WalletBooked), r.PspIdempotencyKey,
			norm(r.RequestedAt).Format("2006-01-02T15:04:05.999999Z"), norm(r.UpdatedAt).Format("2006-01-02T15:04:05.999999Z")}, " "))
	}
	set("history.count", len(history))
	for i, h := range history {
		set(fmt.Sprintf("history[%d]", i), fmt.Sprintf("%d %d %s→%s %s %s %s %s", h.Position, h.Seq, h.Previous, h.New,
			h.Reason, h.Actor, norm(h.At).Format("2006-01-02T15:04:05.999999Z"), h.EventID))
	}
	return m
}

func canonJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(bytes.TrimSpace(b))
	}
	c, _ := json.Marshal(v)
	return string(c)
}
