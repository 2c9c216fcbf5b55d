// Command ledger runs the reference double-entry ledger: it books every approval from payments.approved (debit psp_receivable, credit seller_payable:<sellerId>) and publishes payment.ledger-updated.v1,
// exactly once per approval (read-committed, offsets committed in the Kafka transaction
// that carries the completion).
//
// Environment: KAFKA_BROKERS (required, comma-separated host:port), KAFKA_APPROVED_TOPIC
// (default payments.approved), LEDGER_TRANSACTIONAL_ID (default paystream-ledger),
// LEDGER_LOG_LEVEL (default info). Storage is in memory: a restart books again from the
// committed offsets only, so for production give it durable storage (PostgreSQL, not yet
// implemented).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/ledger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run consumes until ctx ends.
func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	var problems, brokers []string
	for _, b := range strings.Split(getenv("KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			problems = append(problems, fmt.Sprintf("KAFKA_BROKERS: %q is not host:port", b))
		}
		brokers = append(brokers, b)
	}
	if len(brokers) == 0 {
		problems = append(problems, "KAFKA_BROKERS: is required (comma-separated host:port)")
	}
	topic := getenv("KAFKA_APPROVED_TOPIC")
	if topic == "" {
		topic = kafkamsg.TopicApproved
	}
	txid := getenv("LEDGER_TRANSACTIONAL_ID")
	if txid == "" {
		txid = "paystream-ledger"
	}
	var level slog.Level
	if v := getenv("LEDGER_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("LEDGER_LOG_LEVEL: %q is not one of debug, info, warn, error", v))
		}
	}
	if len(problems) > 0 {
		return errors.New("ledger: invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	c := booking.New(brokers, "ledger", kafkamsg.SchemaLedgerUpdated, ledger.New(ledger.NewMemoryStore()),
		booking.WithApprovedTopic(topic), booking.WithTransactionalID(txid), booking.WithLogger(log))
	log.Info("ledger started", "brokers", brokers, "topic", topic)
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}
