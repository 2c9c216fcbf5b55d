// Command paymentchaos runs the production shape of paystream as separate processes on this
// machine — paymentd (data directory, PostgreSQL read models), a real Apache Kafka broker,
// the standalone ledger and wallet on PostgreSQL, the standalone Toss simulator sending
// webhooks to paymentd — drives a steady bounded load (checkouts, confirms, refunds through
// paymentd and cancels made at the Toss console, which paymentd learns of by webhook) and
// injects a seeded schedule of faults: kill -9 and restart of paymentd, the ledger and the
// wallet; SIGSTOP/SIGCONT of each of them, of the simulator and of the broker; the broker
// killed and restarted; PostgreSQL stopped in immediate mode and restarted; simulator
// faults (timeouts, 5xx, approve-then-drop, duplicated and reordered webhooks). The
// simulator stands in for Toss, which does not lose its payments: it is paused, never
// killed.
//
// While the faults run, a monitor checks what must hold at every moment: the simulator
// never captured more than buyers authorised, and every write paymentd acknowledged is in
// its order's stream whenever it is looked at. When the faults stop it waits for the system
// to converge and checks the invariants:
//
//   - at most one capture per orderId at the simulator, and every capture recorded;
//   - refunds and console cancels agree with the simulator;
//   - every SUCCESS is eventually isPaymentDone (booked by the ledger and the wallet);
//   - Σ approved − Σ refunded − Σ withdrawn = ledger = wallet, per seller (GET /admin/v1/books);
//   - the read model equals the fold of the events (POST /admin/v1/readmodel/verify);
//   - every acknowledged write is recorded.
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
	err := run(ctx, os.Args[1:], os.Stdout)
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
