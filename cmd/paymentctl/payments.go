package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json/v1"
)

// attentionPayment is the part of a payment the operator commands print.
type attentionPayment struct {
	OrderID     string `json:"orderId"`
	Status      string `json:"status"`
	TotalAmount string `json:"totalAmount"`
	FailedCount int    `json:"failedCount"`
	UpdatedAt   string `json:"updatedAt"`
	Outcome     *struct {
		Rule    string `json:"rule"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"outcome"`
}

// attention prints escalated payments (waiting for an operator) and open ones (recovery is
// on them). It fails when any payment is escalated, so scripts can alert on it.
func (c client) attention(ctx context.Context, stdout io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, "/admin/v1/payments/attention")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Escalated []attentionPayment `json:"escalated"`
		Open      []attentionPayment `json:"open"`
		Truncated bool               `json:"truncated"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("attention: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tORDER ID\tSTATUS\tAMOUNT\tATTEMPTS\tUPDATED\tLAST OUTCOME")
	for _, group := range []struct {
		kind string
		ps   []attentionPayment
	}{{"escalated", body.Escalated}, {"open", body.Open}} {
		for _, p := range group.ps {
			outcome := ""
			if p.Outcome != nil {
				outcome = p.Outcome.Rule + " " + p.Outcome.Code + " " + p.Outcome.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", group.kind, p.OrderID, p.Status, p.TotalAmount, p.FailedCount, p.UpdatedAt, outcome)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if body.Truncated {
		fmt.Fprintln(stdout, "(truncated: more payments need attention)")
	}
	if len(body.Escalated) > 0 {
		return fmt.Errorf("%d payment(s) escalated to manual handling", len(body.Escalated))
	}
	return nil
}

// resolve records an operator's resolution of one payment:
//
//	paymentctl resolve -order ID -as SUCCESS|FAILURE -actor NAME -reason TEXT [-force]
func (c client) resolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	order := fs.String("order", "", "orderId of the payment")
	as := fs.String("as", "", "SUCCESS or FAILURE")
	_ = fs.String("actor", "", "ignored: the actor recorded is the name of the API key (-key)")
	reason := fs.String("reason", "", "why (recorded)")
	force := fs.Bool("force", false, "record it even if Toss's record contradicts it")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	for name, v := range map[string]string{"order": *order, "as": *as, "reason": *reason} {
		if v == "" {
			fmt.Fprintf(stderr, "paymentctl resolve: -%s is required\n", name)
			return errUsage
		}
	}
	var p attentionPayment
	if err := c.postJSON(ctx, "/admin/v1/payments/"+url.PathEscape(*order)+"/resolve",
		map[string]any{"resolution": *as, "reason": *reason, "force": *force}, &p); err != nil {
		return fmt.Errorf("resolve %s: %w", *order, err)
	}
	fmt.Fprintf(stdout, "%s is now %s (recorded with this API key's name as the actor)\n", p.OrderID, p.Status)
	return nil
}

// allocate says which orders a refund made at Toss (recorded unallocated) came from:
// -split SEQ:AMOUNT[,SEQ:AMOUNT…], recorded with -reason and the API key's name.
func (c client) allocate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("allocate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	order := fs.String("order", "", "orderId of the payment")
	refund := fs.String("refund", "", "refundId of the unallocated refund (from the payment's cancels)")
	split := fs.String("split", "", "orders the money came back from, e.g. 1:12500,2:5000 (seq:amount)")
	reason := fs.String("reason", "", "why (recorded)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	for _, f := range []struct{ name, v string }{{"order", *order}, {"refund", *refund}, {"split", *split}, {"reason", *reason}} {
		if f.v == "" {
			fmt.Fprintf(stderr, "paymentctl allocate: -%s is required\n", f.name)
			return errUsage
		}
	}
	var orders []map[string]any
	for _, part := range strings.Split(*split, ",") {
		seq, amount, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(seq)
		if !ok || err != nil || !digits(amount) {
			fmt.Fprintf(stderr, "paymentctl allocate: -split %q: each part is SEQ:AMOUNT in won, e.g. 2:12500\n", part)
			return errUsage
		}
		orders = append(orders, map[string]any{"seq": n, "amount": json.Number(amount)})
	}
	var p attentionPayment
	if err := c.postJSON(ctx, "/admin/v1/payments/"+url.PathEscape(*order)+"/refunds/"+url.PathEscape(*refund)+"/allocate",
		map[string]any{"orders": orders, "reason": *reason}, &p); err != nil {
		return fmt.Errorf("allocate %s of %s: %w", *refund, *order, err)
	}
	fmt.Fprintf(stdout, "%s of %s is allocated (recorded with this API key's name as the actor)\n", *refund, p.OrderID)
	return nil
}

func digits(s string) bool {
	if s == "" || s[0] == '0' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// postJSON posts body to path and decodes a 200 answer into out; any other status is an
// error carrying the problem's title and detail.
func (c client) postJSON(ctx context.Context, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(answer, &p)
		return fmt.Errorf("HTTP %d: %s %s", resp.StatusCode, p.Title, p.Detail)
	}
	return json.Unmarshal(answer, out)
}
