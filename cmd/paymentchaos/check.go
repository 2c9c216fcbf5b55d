package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// payment is the part of paymentd's payment view the checks read.
type payment struct {
	Status        string `json:"status"`
	IsPaymentDone bool   `json:"isPaymentDone"`
	Cancels       []struct {
		Status string `json:"status"`
	} `json:"cancels"`
}

func (p payment) approved() bool {
	return p.Status == "SUCCESS" || p.Status == "PARTIAL_CANCELED" || p.Status == "CANCELED"
}

// open reports whether recovery still has something to settle.
func (p payment) open() bool {
	if p.Status == "EXECUTING" || p.Status == "UNKNOWN" {
		return true
	}
	for _, c := range p.Cancels {
		if c.Status == "EXECUTING" || c.Status == "UNKNOWN" {
			return true
		}
	}
	return false
}

type books struct {
	Sellers []struct {
		SellerID  string          `json:"sellerId"`
		Approved  decimal.Decimal `json:"approved"`
		Refunded  decimal.Decimal `json:"refunded"`
		Withdrawn decimal.Decimal `json:"withdrawn"`
		Ledger    decimal.Decimal `json:"ledger"`
		Wallet    decimal.Decimal `json:"wallet"`
	} `json:"sellers"`
	Differences int `json:"differences"`
}

// state is one look at every order: paymentd's view, the simulator's, the books.
type state struct {
	payments  map[string]payment
	simStatus map[string]string // the simulator's status; "" when it has no payment
	books     books
	errs      []string
}

func (st *stack) look(ctx context.Context, ids []string) state {
	s := state{payments: map[string]payment{}, simStatus: map[string]string{}}
	for _, id := range ids {
		var p payment
		if _, err := st.callPaymentd(ctx, http.MethodGet, "/v1/payments/"+id, st.merchant(), nil, &p); err != nil {
			s.errs = append(s.errs, err.Error())
			continue
		}
		s.payments[id] = p
		var sp struct {
			Status string `json:"status"`
		}
		code, err := call(ctx, http.MethodGet, st.simURL+"/v1/payments/orders/"+id, st.tossAuth(), nil, &sp)
		if err != nil && code != http.StatusNotFound {
			s.errs = append(s.errs, err.Error())
			continue
		}
		s.simStatus[id] = sp.Status
	}
	if _, err := st.callPaymentd(ctx, http.MethodGet, "/admin/v1/books", st.operator(), nil, &s.books); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	return s
}

// settled reports what still keeps s from being converged ("" when nothing does). strict
// also waits for every refund and Toss-console cancel to show at paymentd as at the
// simulator (a webhook, or reconciliation, has told paymentd of it).
func (s state) settled(strict bool) string {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	for id, p := range s.payments {
		switch {
		case p.open():
			return id + " is still open at paymentd (" + p.Status + ")"
		case p.approved() && !p.IsPaymentDone:
			return id + " is approved but not done"
		case p.approved() != simApproved(s.simStatus[id]):
			return id + " is " + p.Status + " at paymentd but " + s.simStatus[id] + " at the simulator"
		case strict && p.approved() && simStatusAsPaymentd(s.simStatus[id]) != p.Status:
			return id + " is " + p.Status + " at paymentd but " + s.simStatus[id] + " at the simulator"
		}
	}
	if s.books.Differences != 0 {
		return fmt.Sprintf("books: %d differences", s.books.Differences)
	}
	return ""
}

// simStatusAsPaymentd is the simulator's status of an approved payment in paymentd's words.
func simStatusAsPaymentd(status string) string { return strings.Replace(status, "DONE", "SUCCESS", 1) }

func simApproved(status string) bool {
	return status == "DONE" || status == "PARTIAL_CANCELED" || status == "CANCELED"
}

// converge waits until every order is settled and the books tie out, or timeout passes; it
// returns what it waited on last ("" once converged).
func (st *stack) converge(ctx context.Context, timeout time.Duration, ids []string, strict bool) string {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		waiting := st.look(ctx, ids).settled(strict)
		if waiting == "" {
			return ""
		}
		if time.Now().After(deadline) {
			return waiting
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return "interrupted"
}

// reconcile runs paymentd's reconciliation with Toss for the KST days from..to, as an
// operator would after an outage: cancels made at the Toss console whose webhooks were lost
// (the simulator abandons a webhook after Toss's seven retries, or drops it when its queue
// is full) are found and recorded. It returns the run's figures.
func (st *stack) reconcile(ctx context.Context, from, to time.Time) (string, error) {
	kst := time.FixedZone("KST", 9*60*60)
	url := fmt.Sprintf("%s/admin/v1/reconciliation/runs?from=%s&to=%s", st.paymentd[0].url,
		from.In(kst).Format(time.DateOnly), to.In(kst).Format(time.DateOnly))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", st.operator())
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return "", fmt.Errorf("reconciliation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("reconciliation: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 64<<20) // the report lists every mismatch
	for lines.Scan() {
		var line struct {
			Report *struct {
				Completed struct {
					Transactions int            `json:"transactions"`
					Payments     int            `json:"payments"`
					ByClass      map[string]int `json:"byClass"`
					New          int            `json:"new"`
					Fixed        int            `json:"fixed"`
					Failed       string         `json:"failed"`
				} `json:"completed"`
			} `json:"report"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			return "", fmt.Errorf("reconciliation: %w", err)
		}
		switch {
		case line.Error != "":
			return "", fmt.Errorf("reconciliation: %s", line.Error)
		case line.Report != nil:
			c := line.Report.Completed
			if c.Failed != "" {
				return "", fmt.Errorf("reconciliation: %s", c.Failed)
			}
			return fmt.Sprintf("%d Toss transactions, %d payments, %d mismatches found %v, %d fixed",
				c.Transactions, c.Payments, c.New, c.ByClass, c.Fixed), nil
		}
	}
	if err := lines.Err(); err != nil {
		return "", fmt.Errorf("reconciliation: %w", err)
	}
	return "", errors.New("reconciliation: the answer ended without a report")
}

// check looks once more and evaluates every invariant.
func (st *stack) check(ctx context.Context, ids []string) []check {
	s := st.look(ctx, ids)
	var checks []check
	add := func(name string, problems []string, okDetail string) {
		c := check{name: name, ok: len(problems) == 0, detail: okDetail}
		if !c.ok {
			if len(problems) > 5 {
				problems = append(problems[:5], fmt.Sprintf("… %d more", len(problems)-5))
			}
			c.detail = strings.Join(problems, "; ")
		}
		checks = append(checks, c)
	}
	add("every order readable", s.errs, fmt.Sprintf("%d orders", len(ids)))

	var stats struct {
		Approvals int `json:"approvals"`
	}
	var capture []string
	if _, err := call(ctx, http.MethodGet, st.simURL+"/sim/v1/stats", "", nil, &stats); err != nil {
		capture = append(capture, err.Error())
	}
	approvedAtSim, approvedHere, done, refunded := 0, 0, 0, 0
	var recorded, notDone, agree []string
	for _, id := range ids {
		p, ok := s.payments[id]
		if !ok {
			continue
		}
		sim := s.simStatus[id]
		if simApproved(sim) {
			approvedAtSim++
		}
		if p.approved() {
			approvedHere++
		}
		if p.Status == "PARTIAL_CANCELED" || p.Status == "CANCELED" {
			refunded++
		}
		if simApproved(sim) != p.approved() {
			recorded = append(recorded, fmt.Sprintf("%s: simulator %q, paymentd %s", id, sim, p.Status))
		} else if want := simStatusAsPaymentd(sim); p.approved() && want != p.Status {
			agree = append(agree, fmt.Sprintf("%s: simulator %s, paymentd %s", id, sim, p.Status))
		}
		if p.approved() {
			if p.IsPaymentDone {
				done++
			} else {
				notDone = append(notDone, id+" "+p.Status)
			}
		}
	}
	if stats.Approvals != approvedAtSim {
		capture = append(capture, fmt.Sprintf("%d captures at the simulator for %d approved orders", stats.Approvals, approvedAtSim))
	}
	add("at most one capture per orderId", capture, fmt.Sprintf("%d captures, %d orders approved", stats.Approvals, approvedAtSim))
	add("every capture recorded once by paymentd", recorded, fmt.Sprintf("%d approved at both", approvedHere))
	add("refunds agree with the simulator", agree, fmt.Sprintf("%d payments refunded", refunded))
	add("every SUCCESS done downstream", notDone, fmt.Sprintf("%d of %d done", done, approvedHere))

	var tie []string
	if s.books.Differences != 0 {
		tie = append(tie, fmt.Sprintf("books report %d differences", s.books.Differences))
	}
	for _, sl := range s.books.Sellers {
		want := sl.Approved.Sub(sl.Refunded).Sub(sl.Withdrawn)
		if !want.Equal(sl.Ledger) || !want.Equal(sl.Wallet) {
			tie = append(tie, fmt.Sprintf("seller %s: approved %s − refunded %s − withdrawn %s = %s, ledger %s, wallet %s",
				sl.SellerID, sl.Approved, sl.Refunded, sl.Withdrawn, want, sl.Ledger, sl.Wallet))
		}
	}
	add("Σ approved − Σ refunded = ledger = wallet per seller", tie, fmt.Sprintf("%d sellers tied out", len(s.books.Sellers)))

	var rep struct {
		Payments int `json:"payments"`
		Events   int `json:"events"`
		Drift    []struct {
			OrderID string   `json:"orderId"`
			Diffs   []string `json:"diffs"`
		} `json:"drift"`
	}
	var drift []string
	if _, err := call(ctx, http.MethodPost, st.paymentd[0].url+"/admin/v1/readmodel/verify", st.operator(), nil, &rep); err != nil {
		drift = append(drift, err.Error())
	}
	for _, d := range rep.Drift {
		drift = append(drift, d.OrderID+": "+strings.Join(d.Diffs, ", "))
	}
	add("read model = fold of the events", drift, fmt.Sprintf("%d payments, %d events verified", rep.Payments, rep.Events))
	return checks
}
