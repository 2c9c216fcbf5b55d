// Command paymentctl is the operator's and auditor's tool for a running paymentd.
//
//	paymentctl [-url http://127.0.0.1:8080] status    projector health, checkpoint, dead letters
//	paymentctl [-url …] verify                       re-fold every stream and diff against the rows
//	paymentctl [-url …] rebuild                      rebuild from zero into fresh tables, then swap
//	paymentctl [-url …] attention                    escalated and open payments (exit 1 if any is escalated)
//	paymentctl [-url …] books                        per seller approved − refunded beside the ledger and the
//	                                                 wallets (exit 1 on a difference)
//	paymentctl [-url …] resolve -order ID -as SUCCESS|FAILURE -reason TEXT [-force]
//	                                                 (recorded with the API key's name as actor)
//	paymentctl [-url …] allocate -order ID -refund RID -split SEQ:AMOUNT[,…] -reason TEXT
//	                                                 which orders a cancel made at Toss came from
//	paymentctl [-url …] audit show ORDER [-as-of REV|TIME]  timeline, or the payment as of then (auditor key)
//	paymentctl [-url …] audit verify ORDER | -all    hash chains and anchors; exit 1 if tampered (-all: progress bar)
//	paymentctl [-url …] audit anchor                 the latest signed anchor, to keep elsewhere
//	paymentctl [-url …] reconcile -from DAY [-to DAY] [-csv FILE]
//	                                                 reconcile a period (KST days) with Toss now: progress bar,
//	                                                 summary table, open mismatches; exit 1 if any needs a person
//	paymentctl key new NAME ROLE                     a fresh API key and its configuration line
//	paymentctl key hash < token                      the configured form of a token
//	paymentctl [-url …] lag [-watch [-interval 10ms] [-idle 3s]]
//	                                                 projection lag (head − checkpoint); -watch samples it
//	                                                 and reports the max and how soon it returned to zero
//
// It talks to a running paymentd over its admin endpoints (/admin/v1/readmodel/…), because
// paymentd owns the event store (the embedded data directory is locked by the process that
// opened it) and the projector. Both verify and rebuild are safe while paymentd serves.
// PAYMENTD_URL sets the default -url; PAYSTREAM_API_KEY (or -key) is the API key sent. Exit status: 0 clean, 1 drift or failure, 2 usage.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-json-experiment/json/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// errDrift: verify found rows that differ from their streams.
var errDrift = errors.New("read model drift")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	def := getenv("PAYMENTD_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs := flag.NewFlagSet("paymentctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", def, "paymentd base URL (PAYMENTD_URL)")
	key := fs.String("key", getenv("PAYSTREAM_API_KEY"), "API key: an operator's for the read-model and payment commands, an auditor's for audit (PAYSTREAM_API_KEY)")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 {
		fmt.Fprintln(stderr, "usage: paymentctl [-url URL] [-key KEY] status|verify|rebuild|attention|resolve|allocate|lag|books|audit|reconcile|key")
		return 2
	}
	c := client{base: strings.TrimRight(*base, "/"), http: http.DefaultClient, key: *key}
	var err error
	switch fs.Arg(0) {
	case "status":
		err = c.status(ctx, stdout)
	case "verify":
		err = c.verify(ctx, stdout)
	case "rebuild":
		err = c.rebuild(ctx, stdout, stderr)
	case "attention":
		err = c.attention(ctx, stdout)
	case "books":
		err = c.books(ctx, stdout)
	case "resolve":
		err = c.resolve(ctx, fs.Args()[1:], stdout, stderr)
	case "allocate":
		err = c.allocate(ctx, fs.Args()[1:], stdout, stderr)
	case "lag":
		err = c.lagCmd(ctx, fs.Args()[1:], stdout, stderr)
	case "audit":
		err = c.auditCmd(ctx, fs.Args()[1:], stdout, stderr)
	case "reconcile":
		err = c.reconcileCmd(ctx, fs.Args()[1:], stdout, stderr)
	case "key":
		err = keyCmd(fs.Args()[1:], os.Stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "paymentctl: unknown command %q (status, verify, rebuild, attention, resolve, allocate, lag, books, audit, reconcile, key)\n", fs.Arg(0))
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "paymentctl:", err)
		return 1
	}
	return 0
}

// errUsage: a command's arguments are wrong; it has said how on stderr.
var errUsage = errors.New("usage")

type client struct {
	base string
	http *http.Client
	key  string // bearer token; never printed
}

// authorize gives req the API key.
func (c client) authorize(req *http.Request) {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
}

func (c client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		defer resp.Body.Close()
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, problemTitle(resp.Body))
	}
	return resp, nil
}

func (c client) status(ctx context.Context, stdout io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, "/admin/v1/readmodel/status")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status: read model unhealthy (HTTP %d)", resp.StatusCode)
	}
	return nil
}

type report struct {
	Checkpoint uint64 `json:"checkpoint"`
	Payments   int    `json:"payments"`
	Events     int    `json:"events"`
	Drift      []struct {
		OrderID string   `json:"orderId"`
		Diffs   []string `json:"diffs"`
	} `json:"drift"`
	Error string `json:"error"`
}

func (c client) verify(ctx context.Context, stdout io.Writer) error {
	resp, err := c.do(ctx, http.MethodPost, "/admin/v1/readmodel/verify")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var rep report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return fmt.Errorf("verify: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verify: HTTP %d: %s", resp.StatusCode, rep.Error)
	}
	for _, d := range rep.Drift {
		fmt.Fprintf(stdout, "DRIFT %s\n", d.OrderID)
		for _, line := range d.Diffs {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
	}
	fmt.Fprintf(stdout, "verified %d payments, %d events up to position %d: %d drifted\n", rep.Payments, rep.Events, rep.Checkpoint, len(rep.Drift))
	if len(rep.Drift) > 0 {
		return errDrift
	}
	return nil
}

func (c client) rebuild(ctx context.Context, stdout, stderr io.Writer) error {
	resp, err := c.do(ctx, http.MethodPost, "/admin/v1/readmodel/rebuild")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("rebuild: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "done "):
			fmt.Fprintf(stderr, "\r%s\n", progressBar(line, 1))
			fmt.Fprintf(stdout, "rebuilt; checkpoint %s\n", strings.TrimPrefix(line, "done "))
			return nil
		case strings.HasPrefix(line, "error: "):
			fmt.Fprintln(stderr)
			return errors.New("rebuild: " + strings.TrimPrefix(line, "error: "))
		default:
			var n, of uint64
			if _, err := fmt.Sscanf(line, "rebuilt %d of %d", &n, &of); err == nil && of > 0 {
				fmt.Fprintf(stderr, "\r%s", progressBar(line, min(1, float64(n)/float64(of))))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	return errors.New("rebuild: paymentd closed the connection before finishing")
}

// problemTitle is the title of a problem+json body (or the body itself).
func problemTitle(r io.Reader) string {
	body, _ := io.ReadAll(io.LimitReader(r, 4096))
	var p struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		return p.Title
	}
	return strings.TrimSpace(string(body))
}

func progressBar(label string, frac float64) string {
	const width = 30
	n := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%% %s", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, label)
}
