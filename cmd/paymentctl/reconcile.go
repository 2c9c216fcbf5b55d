package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json/v1"
)

// errNeedsPerson: the run left mismatches open that a person must settle.
var errNeedsPerson = errors.New("reconciliation left mismatches open")

// reconcileCmd is paymentctl reconcile -from DAY [-to DAY] [-csv FILE]: it runs a
// reconciliation of the period on paymentd (operator key), shows a progress bar on stderr,
// then a summary table and the open mismatches on stdout, writes the period's report as
// CSV when asked, and fails (exit 1) when anything needs a person.
func (c client) reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "first day of the period, 2026-01-31 (KST)")
	to := fs.String("to", "", "last day, inclusive (default -from)")
	csvPath := fs.String("csv", "", "also write the period's report as CSV to this file (- for stdout)")
	if err := fs.Parse(args); err != nil || *from == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: paymentctl reconcile -from 2026-01-31 [-to 2026-02-01] [-csv report.csv]")
		return errUsage
	}
	if *to == "" {
		*to = *from
	}
	q := url.Values{"from": {*from}, "to": {*to}}
	resp, err := c.do(ctx, http.MethodPost, "/admin/v1/reconciliation/runs?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reconcile: HTTP %d: %s", resp.StatusCode, problemTitle(resp.Body))
	}
	var rep runReport
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Progress *struct {
				Phase    string `json:"phase"`
				Done, Of int
			} `json:"progress"`
			Report *runReport `json:"report"`
			Error  string     `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		switch {
		case line.Error != "":
			fmt.Fprintln(stderr)
			return errors.New("reconcile: " + line.Error)
		case line.Report != nil:
			rep = *line.Report
		case line.Progress != nil:
			p := line.Progress
			frac := 0.0
			if p.Of > 0 {
				frac = min(1, float64(p.Done)/float64(p.Of))
			}
			fmt.Fprintf(stderr, "\r%s", progressBar(fmt.Sprintf("%-12s %d/%d", p.Phase, p.Done, p.Of), frac))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if rep.RunID == "" {
		return errors.New("reconcile: paymentd closed the connection before the report")
	}
	fmt.Fprintf(stderr, "\r%s\n", progressBar("done", 1))
	printRunReport(stdout, rep)
	if *csvPath != "" {
		if err := c.reportCSV(ctx, q, *csvPath, stdout); err != nil {
			return err
		}
	}
	if n := rep.open(); n > 0 {
		return fmt.Errorf("%w: %d need a person", errNeedsPerson, n)
	}
	return nil
}

// runReport is what paymentctl reads of a run's report.
type runReport struct {
	RunID      string `json:"runId"`
	Stream     string `json:"stream"`
	Mismatches []struct {
		Kind           string `json:"kind"`
		Class          string `json:"class"`
		OrderID        string `json:"orderId"`
		TransactionKey string `json:"transactionKey"`
		TossAmount     string `json:"tossAmount"`
		OurAmount      string `json:"ourAmount"`
		Detail         string `json:"detail"`
		FirstFoundIn   string `json:"firstFoundIn"`
		Fix            *struct {
			Command string `json:"command"`
			Fixed   bool   `json:"fixed"`
			Outcome string `json:"outcome"`
		} `json:"fix"`
	} `json:"mismatches"`
	Completed struct {
		Transactions int            `json:"transactions"`
		Payments     int            `json:"payments"`
		Matched      int            `json:"matched"`
		Settlements  int            `json:"settlements"`
		ByClass      map[string]int `json:"byClass"`
		New          int            `json:"new"`
		Fixed        int            `json:"fixed"`
		TiesOut      bool           `json:"tiesOut"`
		Totals       map[string]string
	} `json:"completed"`
}

func (r runReport) open() int {
	n := 0
	for _, m := range r.Mismatches {
		if m.Fix == nil || !m.Fix.Fixed {
			n++
		}
	}
	return n
}

func printRunReport(w io.Writer, r runReport) {
	c := r.Completed
	fmt.Fprintf(w, "run %s (stream %s)\n", r.RunID, r.Stream)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "transactions\t%d\n", c.Transactions)
	fmt.Fprintf(tw, "payments checked\t%d\n", c.Payments)
	fmt.Fprintf(tw, "matched\t%d\n", c.Matched)
	fmt.Fprintf(tw, "settlements\t%d\n", c.Settlements)
	for _, class := range []string{"auto-fixable", "needs-person", "unclassifiable"} {
		fmt.Fprintf(tw, "%s\t%d\n", class, c.ByClass[class])
	}
	fmt.Fprintf(tw, "new\t%d\n", c.New)
	fmt.Fprintf(tw, "fixed\t%d\n", c.Fixed)
	keys := make([]string, 0, len(c.Totals))
	for k := range c.Totals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var totals []string
	for _, k := range keys {
		totals = append(totals, k+" "+c.Totals[k])
	}
	fmt.Fprintf(tw, "totals (KRW)\t%s\n", strings.Join(totals, ", "))
	fmt.Fprintf(tw, "ties out\t%t\n", c.TiesOut)
	_ = tw.Flush()
	if r.open() == 0 {
		return
	}
	fmt.Fprintln(w, "\nopen mismatches:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tKIND\tORDER\tTOSS\tOURS\tSINCE\tDETAIL")
	for _, m := range r.Mismatches {
		if m.Fix != nil && m.Fix.Fixed {
			continue
		}
		detail := m.Detail
		if m.Fix != nil {
			detail += " (" + m.Fix.Command + ": " + m.Fix.Outcome + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Class, m.Kind, m.OrderID, orDash(m.TossAmount), orDash(m.OurAmount),
			m.FirstFoundIn, detail)
	}
	_ = tw.Flush()
}

// reportCSV writes the period's latest report as CSV to path ("-": stdout).
func (c client) reportCSV(ctx context.Context, q url.Values, path string, stdout io.Writer) error {
	q.Set("format", "csv")
	resp, err := c.do(ctx, http.MethodGet, "/admin/v1/reconciliation/report?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("report: HTTP %d: %s", resp.StatusCode, problemTitle(resp.Body))
	}
	out := stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
