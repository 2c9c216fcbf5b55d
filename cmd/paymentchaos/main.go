// Command paymentchaos runs the production shape of paystream as separate processes on this
// machine — paymentd (data directory, PostgreSQL read models), a real Apache Kafka broker,
// the standalone ledger and wallet on PostgreSQL, the standalone Toss simulator — drives a
// steady bounded load (checkouts, confirms, some refunds) and injects a seeded schedule of
// faults: kill -9 and restart of paymentd, SIGSTOP/SIGCONT of the ledger, the broker killed
// and restarted, simulator faults (timeouts, 5xx, approve-then-drop). When the faults stop
// it waits for the system to converge and checks the invariants:
//
//   - at most one capture per orderId at the simulator, and every capture recorded;
//   - every SUCCESS is eventually isPaymentDone (booked by the ledger and the wallet);
//   - Σ approved − Σ refunded − Σ withdrawn = ledger = wallet, per seller (GET /admin/v1/books);
//   - the read model equals the fold of the events (POST /admin/v1/readmodel/verify).
//
// It prints a report and exits 1 on any violation, naming the seed to replay it:
//
//	go run ./cmd/paymentchaos -duration 1m -seed 42
//
// Everything it starts (processes, PostgreSQL, the broker) is stopped when it ends, also
// on failure or interrupt. It needs PostgreSQL's server binaries, Java and the broker's
// classpath (see kafka/brokertest); run it inside the module.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paymentchaos:", err)
		os.Exit(1)
	}
}

// errViolations is returned when the run found at least one violated invariant.
type errViolations struct {
	n    int
	seed int64
}

func (e errViolations) Error() string {
	return fmt.Sprintf("%d invariant violation(s); replay with -seed %d", e.n, e.seed)
}
