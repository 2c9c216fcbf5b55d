package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
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
	body, err := json.Marshal(map[string]any{"resolution": *as, "reason": *reason, "force": *force})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.base+"/admin/v1/payments/"+url.PathEscape(*order)+"/resolve", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *order, err)
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
		return fmt.Errorf("resolve %s: HTTP %d: %s %s", *order, resp.StatusCode, p.Title, p.Detail)
	}
	var p attentionPayment
	if err := json.Unmarshal(answer, &p); err != nil {
		return fmt.Errorf("resolve %s: %w", *order, err)
	}
	fmt.Fprintf(stdout, "%s is now %s (recorded with this API key's name as the actor)\n", p.OrderID, p.Status)
	return nil
}
