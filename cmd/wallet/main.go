// Command wallet runs the reference seller wallet: it credits each seller for every approval from payments.approved and publishes payment.wallet-updated.v1,
// exactly once per approval (read-committed, offsets committed in the Kafka transaction
// that carries the completion).
//
// Environment: KAFKA_BROKERS (required, comma-separated host:port), KAFKA_APPROVED_TOPIC
// (default payments.approved), WALLET_TRANSACTIONAL_ID (default paystream-wallet),
// WALLET_LOG_LEVEL (default info), DATABASE_URL (flag -database-url: PostgreSQL, tables in
// the schema "wallet", migrated at start; never logged). Without DATABASE_URL storage is in
// memory and not durable: a restarted process forgets its credits and books approvals
// redelivered to it again, so production sets DATABASE_URL (see package wallet for why a
// durable store deduplicating by message id makes the whole loop exactly once).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/postgres"
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
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("wallet", flag.ContinueOnError)
	flags.SetOutput(stdout)
	databaseURL := flags.String("database-url", getenv("DATABASE_URL"),
		"PostgreSQL connection string (env DATABASE_URL); empty: storage in memory, not durable")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
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
	txid := getenv("WALLET_TRANSACTIONAL_ID")
	if txid == "" {
		txid = "paystream-wallet"
	}
	var level slog.Level
	if v := getenv("WALLET_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("WALLET_LOG_LEVEL: %q is not one of debug, info, warn, error", v))
		}
	}
	if *databaseURL != "" && !isPostgresURL(*databaseURL) {
		problems = append(problems, "DATABASE_URL: not a PostgreSQL connection string such as postgres://user:pass@host:5432/paystream?sslmode=disable")
	}
	if len(problems) > 0 {
		return errors.New("wallet: invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	store, closeStore, err := openStore(ctx, *databaseURL, log)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer closeStore()
	c := booking.New(brokers, "wallet", kafkamsg.SchemaWalletUpdated, wallet.New(store),
		booking.WithApprovedTopic(topic), booking.WithTransactionalID(txid), booking.WithLogger(log))
	log.Info("wallet started", "brokers", brokers, "topic", topic)
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	return nil
}

// isPostgresURL reports whether s is a connection string pgx accepts, as a URL or key=value.
func isPostgresURL(s string) bool {
	if _, err := pgx.ParseConfig(s); err != nil {
		return false
	}
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "=")
}

// openStore returns the PostgreSQL store (migrated) when databaseURL is set, else the memory
// store; close releases it.
func openStore(ctx context.Context, databaseURL string, log *slog.Logger) (store wallet.Store, closeStore func(), err error) {
	if databaseURL == "" {
		log.Warn("storage in memory: credits are not durable; a restart books redelivered approvals again (set DATABASE_URL)",
			"storage", "memory")
		return wallet.NewMemoryStore(), func() {}, nil
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pg, err := postgres.Open(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	log.Info("storage in PostgreSQL", "storage", "postgres", "schema", pg.Schema())
	return pg, pool.Close, nil
}
