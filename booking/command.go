package booking

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/postgres"
)

// Command is a standalone booking consumer (cmd/ledger, cmd/wallet) with its configuration:
// KAFKA_BROKERS (required), KAFKA_APPROVED_TOPIC, <NAME>_TRANSACTIONAL_ID, <NAME>_LOG_LEVEL
// and DATABASE_URL (flag -database-url; empty keeps storage in memory, not durable).
type Command struct {
	Name   string // "ledger": the flag set, the env prefix LEDGER_, the default transactional id
	Schema string // the completion message's schema
	// Memory returns the in-memory booker; Postgres the one on a migrated pool, with a
	// description of where its tables are for the log.
	Memory   func() Booker
	Postgres func(ctx context.Context, pool *pgxpool.Pool) (Booker, string, error)
}

// Run reads the configuration, reporting every problem by variable name, and consumes until
// ctx ends. Logs go to stdout as JSON.
func (c Command) Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	prefix := strings.ToUpper(c.Name) + "_"
	flags := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	flags.SetOutput(stdout)
	databaseURL := flags.String("database-url", getenv("DATABASE_URL"),
		"PostgreSQL connection string (env DATABASE_URL); empty: storage in memory, not durable")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	var problems []string
	brokers, bad := kafka.ParseBrokers(getenv("KAFKA_BROKERS"), true)
	for _, p := range bad {
		problems = append(problems, "KAFKA_BROKERS: "+p)
	}
	topic := getenv("KAFKA_APPROVED_TOPIC")
	if topic == "" {
		topic = kafkamsg.TopicApproved
	}
	txid := getenv(prefix + "TRANSACTIONAL_ID")
	if txid == "" {
		txid = "paystream-" + c.Name
	}
	var level slog.Level
	if v := getenv(prefix + "LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("%sLOG_LEVEL: %q is not one of debug, info, warn, error", prefix, v))
		}
	}
	if *databaseURL != "" && !postgres.ValidConnString(*databaseURL) {
		problems = append(problems, "DATABASE_URL: not a PostgreSQL connection string such as postgres://user:pass@host:5432/paystream?sslmode=disable")
	}
	if len(problems) > 0 {
		return errors.New(c.Name + ": invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	booker, closeStore, err := c.open(ctx, *databaseURL, log)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	defer closeStore()
	consumer := New(kafka.Config{Brokers: brokers, Logger: log}, c.Name, c.Schema, booker,
		WithApprovedTopic(topic), WithTransactionalID(txid))
	log.Info(c.Name+" started", "brokers", brokers, "topic", topic)
	// A broker restart must not end the process: the consumer is run again, as in paymentd.
	if err := kafka.Supervise(ctx, log.With("consumer", c.Name), nil, consumer.Run); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return nil
}

// open returns the PostgreSQL booker when databaseURL is set, else the memory one.
func (c Command) open(ctx context.Context, databaseURL string, log *slog.Logger) (Booker, func(), error) {
	if databaseURL == "" {
		log.Warn("storage in memory: bookings are not durable; a restart books redelivered approvals again (set DATABASE_URL)",
			"storage", "memory")
		return c.Memory(), func() {}, nil
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	booker, where, err := c.Postgres(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	log.Info("storage in PostgreSQL", "storage", "postgres", "schema", where)
	return booker, pool.Close, nil
}
