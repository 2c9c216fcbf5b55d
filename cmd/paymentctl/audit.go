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
	"strings"

	"github.com/go-json-experiment/json/v1"
)

// errTampered: verification found a stream that is not intact.
var errTampered = errors.New("tampering found")

// auditCmd is the auditor's view, with an auditor's key:
//
//	paymentctl audit show ORDER [-as-of REVISION|RFC3339]  the timeline (or the payment then)
//	paymentctl audit verify ORDER | -all                   the hash chains (exit 1 if tampered)
//	paymentctl audit anchor                                the latest signed anchor, as JSON
func (c client) auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: paymentctl audit show ORDER [-as-of REV|TIME] | verify ORDER|-all | anchor")
		return errUsage
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	asOf := fs.String("as-of", "", "a revision or an RFC 3339 time")
	all := fs.Bool("all", false, "verify every payment")
	rest := args[1:]
	var order string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		order, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return errUsage
	}
	switch {
	case args[0] == "show" && order != "":
		return c.auditShow(ctx, order, *asOf, stdout)
	case args[0] == "verify" && (order != "") != *all:
		if *all {
			return c.auditVerifyAll(ctx, stdout, stderr)
		}
		return c.auditVerify(ctx, order, stdout)
	case args[0] == "anchor":
		return c.getTo(ctx, "/audit/v1/anchors/latest", stdout)
	}
	fmt.Fprintln(stderr, "usage: paymentctl audit show ORDER [-as-of REV|TIME] | verify ORDER|-all | anchor")
	return errUsage
}

func (c client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, problemTitle(resp.Body))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c client) getTo(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, problemTitle(resp.Body))
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (c client) auditShow(ctx context.Context, order, asOf string, stdout io.Writer) error {
	if asOf != "" {
		var v struct {
			AsOf    struct{ Revision int64 } `json:"asOf"`
			Payment map[string]any           `json:"payment"`
		}
		if err := c.getJSON(ctx, "/audit/v1/payments/"+url.PathEscape(order)+"?asOf="+url.QueryEscape(asOf), &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s as of revision %d: %v, total %v\n", order, v.AsOf.Revision, v.Payment["status"], v.Payment["totalAmount"])
		out, _ := json.MarshalIndent(v.Payment, "  ", "  ")
		fmt.Fprintf(stdout, "  %s\n", out)
		return nil
	}
	var v struct {
		Timeline []struct {
			Revision   int64          `json:"revision"`
			Type       string         `json:"type"`
			RecordedAt string         `json:"recordedAt"`
			Actor      string         `json:"actor"`
			Why        map[string]any `json:"why"`
			Downstream []string       `json:"downstreamMessageIds"`
			State      map[string]any `json:"state"`
			Hash       string         `json:"hash"`
		} `json:"timeline"`
	}
	if err := c.getJSON(ctx, "/audit/v1/payments/"+url.PathEscape(order)+"/timeline", &v); err != nil {
		return err
	}
	for _, e := range v.Timeline {
		fmt.Fprintf(stdout, "%3d  %s  %-40s → %-16v by %s\n", e.Revision, e.RecordedAt, e.Type, e.State["status"], orDash(e.Actor))
		if e.Why != nil {
			fmt.Fprintf(stdout, "     why: rule %v", e.Why["rule"])
			for _, k := range []string{"code", "message", "reason"} {
				if e.Why[k] != nil && e.Why[k] != "" {
					fmt.Fprintf(stdout, ", %s %v", k, e.Why[k])
				}
			}
			fmt.Fprintln(stdout)
		}
		if len(e.Downstream) > 0 {
			fmt.Fprintf(stdout, "     downstream: %s\n", strings.Join(e.Downstream, ", "))
		}
		if e.Hash != "" {
			fmt.Fprintf(stdout, "     hash: %s\n", e.Hash)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type streamReport struct {
	Stream   string `json:"stream"`
	Events   int    `json:"events"`
	PreChain int    `json:"preChain"`
	Intact   bool   `json:"intact"`
	Findings []struct {
		Revision int64  `json:"revision"`
		Kind     string `json:"kind"`
		Detail   string `json:"detail"`
	} `json:"findings"`
}

func printReport(w io.Writer, r streamReport) {
	state := "intact"
	if !r.Intact {
		state = "TAMPERED"
	}
	fmt.Fprintf(w, "%s: %s (%d events, %d pre-chain)\n", r.Stream, state, r.Events, r.PreChain)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  revision %d: %s — %s\n", f.Revision, f.Kind, f.Detail)
	}
}

func (c client) auditVerify(ctx context.Context, order string, stdout io.Writer) error {
	var r streamReport
	if err := c.getJSON(ctx, "/audit/v1/payments/"+url.PathEscape(order)+"/verify", &r); err != nil {
		return err
	}
	printReport(stdout, r)
	if !r.Intact {
		return errTampered
	}
	return nil
}

// auditVerifyAll reads the NDJSON of GET /audit/v1/verify: a progress bar on stderr,
// tampered streams and the summary on stdout.
func (c client) auditVerifyAll(ctx context.Context, stdout, stderr io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, "/audit/v1/verify")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verify: HTTP %d: %s", resp.StatusCode, problemTitle(resp.Body))
	}
	total, tampered := 0, 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var line struct {
			Total    *int           `json:"total"`
			Verified *int           `json:"verified"`
			Summary  map[string]int `json:"summary"`
			Error    string         `json:"error"`
			Stream   string         `json:"stream"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		switch {
		case line.Total != nil:
			total = *line.Total
			fmt.Fprintf(stderr, "\r%s", progressBar(fmt.Sprintf("0 of %d", total), 0))
		case line.Verified != nil && total > 0:
			fmt.Fprintf(stderr, "\r%s", progressBar(fmt.Sprintf("%d of %d", *line.Verified, total), float64(*line.Verified)/float64(total)))
		case line.Stream != "":
			var r streamReport
			_ = json.Unmarshal(sc.Bytes(), &r)
			fmt.Fprintln(stderr)
			printReport(stdout, r)
			tampered++
		case line.Error != "":
			fmt.Fprintln(stderr)
			return errors.New("verify: " + line.Error)
		case line.Summary != nil:
			fmt.Fprintf(stderr, "\r%s\n", progressBar(fmt.Sprintf("%d of %d", line.Summary["streams"], total), 1))
			fmt.Fprintf(stdout, "verified %d payments: %d intact, %d tampered, %d pre-chain events\n",
				line.Summary["streams"], line.Summary["intact"], line.Summary["tampered"], line.Summary["preChainEvents"])
			if tampered > 0 || line.Summary["tampered"] > 0 {
				return errTampered
			}
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return errors.New("verify: paymentd closed the connection before finishing")
}
