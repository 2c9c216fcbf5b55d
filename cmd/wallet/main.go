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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	return booking.Command{
		Name:   "wallet",
		Schema: kafkamsg.SchemaWalletUpdated,
		Memory: func() booking.Booker { return wallet.New(wallet.NewMemoryStore()) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (booking.Booker, string, error) {
			store, err := postgres.Open(ctx, pool)
			if err != nil {
				return nil, "", err
			}
			return wallet.New(store), store.Schema(), nil
		},
	}.Run(ctx, args, getenv, stdout)
}
