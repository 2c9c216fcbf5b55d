package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/gorilla/mux"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

// The auditor's routes, under /audit (the auditor role's alone). They read the payment's
// own stream, never a read model, so what they show is what was recorded; the read model
// only enumerates payments for the whole-store verification and the exports.

// Anchors gives the latest signed anchor and each stream's anchored head (nil: none).
type Anchors interface {
	Latest(ctx context.Context) (audit.Anchor, error)
	HeadOf(ctx context.Context, stream string) (*audit.Head, error)
}

// errNoAsOf: asOf names a time before the payment existed or a revision it never had.
var errNoAsOf = errors.New("the payment had no event at or before asOf")

// asOf returns the payment as it stood after the last event at or before ?asOf= (a
// revision, or an RFC 3339 time compared with the events' recorded times).
func (a *api) auditPayment(w http.ResponseWriter, r *http.Request) {
	recorded, err := a.history(r.Context(), mux.Vars(r)["orderId"])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	upTo := len(recorded)
	if q := r.URL.Query().Get("asOf"); q != "" {
		if upTo, err = prefixAsOf(recorded, q); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	p, err := fold(recorded[:upTo])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	last := recorded[upTo-1]
	writeJSON(w, http.StatusOK, map[string]any{"asOf": map[string]any{"revision": int64(last.Revision), "recordedAt": last.RecordedAt},
		"payment": viewOf(p)})
}

// prefixAsOf is how many of recorded stood at asOf.
func prefixAsOf(recorded []eventstore.RecordedEvent, asOf string) (int, error) {
	n := 0
	if rev, err := strconv.ParseInt(asOf, 10, 64); err == nil {
		for n < len(recorded) && int64(recorded[n].Revision) <= rev {
			n++
		}
	} else if t, err := time.Parse(time.RFC3339Nano, asOf); err == nil {
		for n < len(recorded) && !recorded[n].RecordedAt.After(t) {
			n++
		}
	} else {
		return 0, &badRequest{field: "asOf", msg: "must be a revision (0, 1, …) or an RFC 3339 time"}
	}
	if n == 0 || (asOf[0] == '-') {
		return 0, &badRequest{status: http.StatusNotFound, field: "asOf", msg: errNoAsOf.Error()}
	}
	return n, nil
}

// history is the payment's stream; never empty (aggregate.ErrNotFound instead).
func (a *api) history(ctx context.Context, orderID string) ([]eventstore.RecordedEvent, error) {
	recorded, err := a.payments.Events(ctx, orderID)
	if err == nil && len(recorded) == 0 {
		err = fmt.Errorf("history %s: %w", orderID, aggregate.ErrNotFound)
	}
	return recorded, err
}

// fold is the payment after recorded (aggregate.EvolveStored, as commands loads it).
func fold(recorded []eventstore.RecordedEvent) (commands.Payment, error) {
	p := commands.Payment{Revision: eventstore.NoStream}
	for _, e := range recorded {
		var err error
		if p.State, _, err = aggregate.EvolveStored(p.State, e.Type, e.Data); err != nil {
			return p, fmt.Errorf("fold %s at %d: %w", e.Stream, e.Revision, err)
		}
		p.Revision, p.Position = e.Revision, e.Position
	}
	return p, nil
}

// timelineEntry is one event with the state after it and why it happened.
type timelineEntry struct {
	Revision      int64           `json:"revision"`
	Position      uint64          `json:"position"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	RecordedAt    time.Time       `json:"recordedAt"`
	Actor         string          `json:"actor,omitempty"`
	CorrelationID string          `json:"correlationId,omitempty"`
	CausationID   string          `json:"causationId,omitempty"`
	CommandID     string          `json:"commandId,omitempty"`
	Hash          string          `json:"hash,omitempty"`
	PrevHash      string          `json:"prevHash,omitempty"`
	Why           *why            `json:"why,omitempty"`
	Downstream    []string        `json:"downstreamMessageIds,omitempty"`
	Data          json.RawMessage `json:"data"`
	State         paymentView     `json:"state"`
}

// why is a decision's reason as its event recorded it: the classification rule and its
// version (the rule's prefix, e.g. toss.v2), the PSP's redacted evidence, the code and
// message, an operator's reason.
type why struct {
	Rule        string          `json:"rule,omitempty"`
	RuleVersion string          `json:"ruleVersion,omitempty"`
	Code        string          `json:"code,omitempty"`
	Message     string          `json:"message,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Resolution  string          `json:"resolution,omitempty"`
	Forced      bool            `json:"forced,omitempty"`
	Evidence    json.RawMessage `json:"evidence,omitempty"`
}

// forwarded are the events the forwarder publishes downstream; the message id subscribers
// deduplicate by is the event's id (kafkamsg.Approved.MessageID).
var forwarded = map[string]bool{aggregate.NamePspApproved: true, aggregate.NameManuallyResolved: true}

func (a *api) timeline(w http.ResponseWriter, r *http.Request) {
	recorded, err := a.history(r.Context(), mux.Vars(r)["orderId"])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]timelineEntry, 0, len(recorded))
	p := commands.Payment{Revision: eventstore.NoStream}
	for _, e := range recorded {
		if p.State, _, err = aggregate.EvolveStored(p.State, e.Type, e.Data); err != nil {
			writeError(w, r, a.log, fmt.Errorf("timeline %s at %d: %w", e.Stream, e.Revision, err))
			return
		}
		p.Revision, p.Position = e.Revision, e.Position
		var md commands.EventMetadata
		_ = json.Unmarshal(e.Metadata, &md)
		entry := timelineEntry{Revision: int64(e.Revision), Position: uint64(e.Position), ID: e.ID.String(), Type: e.Type,
			RecordedAt: e.RecordedAt, Actor: md.Actor, CorrelationID: md.CorrelationID, CausationID: md.CausationID,
			CommandID: md.CommandID, Hash: md.Hash, PrevHash: md.PrevHash, Data: rawOrNull(e.Data), State: viewOf(p)}
		var y why
		if json.Unmarshal(e.Data, &y) == nil && (y.Rule != "" || y.Reason != "" || len(y.Evidence) > 0 || y.Code != "") {
			y.RuleVersion, _, _ = strings.Cut(y.Rule, "/")
			entry.Why = &y
		}
		if forwarded[e.Type] && (e.Type != aggregate.NameManuallyResolved || y.Resolution == string(aggregate.StatusSuccess)) {
			entry.Downstream = append(entry.Downstream, e.ID.String())
		}
		var ids struct {
			MessageID  string `json:"messageId"`
			ApprovalID string `json:"approvalId"`
		}
		if json.Unmarshal(e.Data, &ids) == nil {
			for _, id := range []string{ids.MessageID, ids.ApprovalID} {
				if id != "" {
					entry.Downstream = append(entry.Downstream, id)
				}
			}
		}
		out = append(out, entry)
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderId": mux.Vars(r)["orderId"], "timeline": out})
}

// anchoredHead is the stream's head in the latest anchor that recorded it (nil: none).
func (a *api) anchoredHead(ctx context.Context, stream string) (*audit.Head, error) {
	if a.anchors == nil {
		return nil, nil
	}
	return a.anchors.HeadOf(ctx, stream)
}

func (a *api) verifyPayment(w http.ResponseWriter, r *http.Request) {
	recorded, err := a.history(r.Context(), mux.Vars(r)["orderId"])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	head, err := a.anchoredHead(r.Context(), recorded[0].Stream)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, audit.VerifyStream(recorded[0].Stream, recorded, head))
}

// errNoReadModel: the route enumerates payments through the read model, which is not set.
var errNoReadModel = errors.New("no read model to enumerate payments")

// eachPayment calls fn for every payment the read model lists for f, a page at a time.
func (a *api) eachPayment(ctx context.Context, f projections.Filter, fn func(projections.Payment) error) error {
	if a.readModel == nil {
		return errNoReadModel
	}
	f.Limit = projections.MaxLimit
	for {
		page, err := a.readModel.List(ctx, f)
		if err != nil {
			return err
		}
		for _, p := range page.Items {
			if err := fn(p); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}

// verifyAll streams NDJSON: {"total":n} first, then a report per stream that is not intact
// and {"verified":k} every 100 streams, and last {"summary":…}. Memory: one stream at a time.
func (a *api) verifyAll(w http.ResponseWriter, r *http.Request) {
	longRunning(w)
	total := 0
	if err := a.eachPayment(r.Context(), projections.Filter{}, func(projections.Payment) error { total++; return nil }); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	_ = enc.Encode(map[string]int{"total": total})
	var sum struct {
		Streams  int `json:"streams"`
		Intact   int `json:"intact"`
		Tampered int `json:"tampered"`
		PreChain int `json:"preChainEvents"`
	}
	err := a.eachPayment(r.Context(), projections.Filter{}, func(p projections.Payment) error {
		recorded, err := a.history(r.Context(), p.OrderID)
		if err != nil {
			return err
		}
		stream := aggregate.StreamName(p.OrderID)
		head, err := a.anchoredHead(r.Context(), stream)
		if err != nil {
			return err
		}
		rep := audit.VerifyStream(stream, recorded, head)
		sum.Streams++
		sum.PreChain += rep.PreChain
		if rep.Intact {
			sum.Intact++
		} else {
			sum.Tampered++
			_ = enc.Encode(rep)
		}
		if sum.Streams%100 == 0 {
			_ = enc.Encode(map[string]int{"verified": sum.Streams})
			flush()
		}
		return nil
	})
	if err != nil {
		a.log.Error("verify all failed", "request_id", requestID(r.Context()), "err", err)
		_ = enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = enc.Encode(map[string]any{"summary": sum})
}

// period reads ?from= and ?to= (RFC 3339; to exclusive, default now).
func period(r *http.Request) (from, to time.Time, err error) {
	to = time.Now()
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			if *p.into, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return from, to, &badRequest{field: p.name, msg: "must be an RFC 3339 time"}
			}
		}
	}
	if !from.Before(to) {
		return from, to, &badRequest{field: "from", msg: "must be before to"}
	}
	return from, to, nil
}

// exportEvents streams, as JSON Lines, every payment event recorded in [from, to), with
// its hashes: a payment created before to may have events in the period, so every such
// payment's stream is read, one at a time (bounded memory).
func (a *api) exportEvents(w http.ResponseWriter, r *http.Request) {
	from, to, err := period(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	longRunning(w)
	started := false
	enc := json.NewEncoder(w)
	err = a.eachPayment(r.Context(), projections.Filter{CreatedTo: to}, func(p projections.Payment) error {
		recorded, err := a.history(r.Context(), p.OrderID)
		if err != nil {
			return err
		}
		for _, e := range recorded {
			if e.RecordedAt.Before(from) || !e.RecordedAt.Before(to) {
				continue
			}
			if !started {
				w.Header().Set("Content-Type", "application/jsonl")
				started = true
			}
			links := audit.LinksOf(e.Metadata)
			if err := enc.Encode(exportedEvent{Stream: e.Stream, eventView: eventView{Revision: int64(e.Revision),
				Position: uint64(e.Position), ID: e.ID.String(), Type: e.Type, RecordedAt: e.RecordedAt, Data: rawOrNull(e.Data),
				Metadata: rawOrNull(e.Metadata)}, Hash: links.Hash, PrevHash: links.PrevHash}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !started {
		writeError(w, r, a.log, err)
		return
	}
	if err != nil {
		a.log.Error("export failed midway", "request_id", requestID(r.Context()), "err", err)
		_ = enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	if !started {
		w.Header().Set("Content-Type", "application/jsonl")
		w.WriteHeader(http.StatusOK)
	}
}

// exportedEvent is one line of the events export.
type exportedEvent struct {
	Stream string `json:"stream"`
	eventView
	Hash     string `json:"hash,omitempty"`
	PrevHash string `json:"prevHash,omitempty"`
}

// paymentsCSVHeader are the columns of the payments export.
var paymentsCSVHeader = []string{"orderId", "createdAt", "updatedAt", "status", "totalAmount", "buyerId", "orderName",
	"paymentKey", "method", "approvedAt", "isPaymentDone", "outcomeRule"}

// exportPayments streams, as CSV, the payments created in [from, to), a page at a time.
func (a *api) exportPayments(w http.ResponseWriter, r *http.Request) {
	from, to, err := period(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if a.readModel == nil {
		writeError(w, r, a.log, errNoReadModel)
		return
	}
	longRunning(w)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	_ = cw.Write(paymentsCSVHeader)
	err = a.eachPayment(r.Context(), projections.Filter{CreatedFrom: from, CreatedTo: to}, func(p projections.Payment) error {
		approved := ""
		if p.ApprovedAt != nil {
			approved = p.ApprovedAt.UTC().Format(time.RFC3339Nano)
		}
		if err := cw.Write([]string{p.OrderID, p.CreatedAt.UTC().Format(time.RFC3339Nano), p.UpdatedAt.UTC().Format(time.RFC3339Nano),
			string(p.Status), p.TotalAmount.String(), p.BuyerID, p.OrderName, p.PaymentKey, p.Method, approved,
			strconv.FormatBool(p.IsPaymentDone), p.OutcomeRule}); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	cw.Flush()
	if err != nil {
		a.log.Error("export failed midway", "request_id", requestID(r.Context()), "err", err)
	}
}

func (a *api) latestAnchor(w http.ResponseWriter, r *http.Request) {
	if a.anchors == nil {
		writeError(w, r, a.log, audit.ErrNoAnchor)
		return
	}
	an, err := a.anchors.Latest(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, an)
}

// longRunning lifts the server's write timeout for an auditor's request that may take
// minutes (whole-store verification, exports); it still ends when the caller hangs up.
func longRunning(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}
