package booking_test

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafkamsg"
)

// refusingBooker books nothing; configuration specs never get that far.
type refusingBooker struct{}

func (refusingBooker) Book(context.Context, kafkamsg.Approved) (bool, error)       { return false, nil }
func (refusingBooker) BookRefund(context.Context, kafkamsg.Refunded) (bool, error) { return false, nil }
func (refusingBooker) BookWithdrawal(context.Context, kafkamsg.Withdrawn) (bool, error) {
	return false, nil
}

var _ = Describe("Command", func() {
	command := booking.Command{Name: "ledger", Schema: kafkamsg.SchemaLedgerUpdated,
		Memory: func() booking.Booker { return refusingBooker{} },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (booking.Booker, string, error) {
			return refusingBooker{}, "ledger", pool.Ping(ctx)
		}}
	run := func(ctx context.Context, args []string, env map[string]string) error {
		return command.Run(ctx, args, func(k string) string { return env[k] }, io.Discard)
	}

	It("names every bad variable, and never echoes a connection string", func(ctx SpecContext) {
		err := run(ctx, nil, map[string]string{"LEDGER_LOG_LEVEL": "loud", "DATABASE_URL": "mysql://root@db/ledger"})
		Expect(err).To(MatchError(And(ContainSubstring("KAFKA_BROKERS"), ContainSubstring("LEDGER_LOG_LEVEL"),
			ContainSubstring("DATABASE_URL"))))
		Expect(err.Error()).NotTo(ContainSubstring("root@db"))
	})

	It("lets -database-url override DATABASE_URL", func(ctx SpecContext) {
		err := run(ctx, []string{"-database-url", "::not a url"}, map[string]string{"DATABASE_URL": "postgres://a:b@db:5432/x?sslmode=disable"})
		Expect(err).To(MatchError(ContainSubstring("DATABASE_URL: not a PostgreSQL connection string")))
		err = run(ctx, []string{"-database-url", "postgres://a:b@db:5432/x?sslmode=disable"}, map[string]string{"DATABASE_URL": "::not a url"})
		Expect(err).To(MatchError(Not(ContainSubstring("DATABASE_URL"))))
	})

	It("names DATABASE_URL when PostgreSQL cannot be reached", func(ctx SpecContext) {
		err := run(ctx, nil, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1",
			"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"})
		Expect(err).To(MatchError(ContainSubstring("DATABASE_URL")))
	})
})
