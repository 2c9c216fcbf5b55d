package postgres

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/postgres/migrate"
	"github.com/paystream/paystream/wallet"
)

var _ wallet.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema holds the wallet's tables.
const DefaultSchema = "wallet"

// Store is the wallets in one PostgreSQL schema. Safe for concurrent use, also by several
// processes sharing the database.
type Store struct {
	pool   *pgxpool.Pool
	schema string
}

// Option configures Open.
type Option func(*Store)

// WithSchema puts the tables in schema (lower-case letters, digits, '_'; default "wallet").
func WithSchema(schema string) Option { return func(s *Store) { s.schema = schema } }

// Open applies the pending migrations (serialised across processes by an advisory lock) and
// returns the store. The pool stays the caller's to close.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, schema: DefaultSchema}
	for _, o := range opts {
		o(s)
	}
	if err := migrate.Apply(ctx, s.pool, migrations, "migrations", s.schema); err != nil {
		return nil, fmt.Errorf("open wallet %s: %w", s.schema, err)
	}
	return s, nil
}

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// q qualifies the tables of a statement with the store's schema.
func (s *Store) q(sql string) string { return strings.ReplaceAll(sql, "__S__", s.schema) }

// Apply implements wallet.Store: the message id, its credits and the balance changes are
// written in one database transaction; a message id already applied (also by a concurrent
// caller) writes nothing and reports false.
func (s *Store) Apply(ctx context.Context, messageID string, credits []wallet.Credit) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("apply %s: begin: %w", messageID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, s.q(`INSERT INTO __S__.applied_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING`), messageID)
	if err != nil {
		return false, fmt.Errorf("apply %s: %w", messageID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil // applied before
	}
	n := len(credits)
	lines, seqs := make([]int32, n), make([]int32, n)
	sellers, amounts, orders := make([]string, n), make([]string, n), make([]string, n)
	for i, c := range credits {
		lines[i], seqs[i] = int32(i+1), int32(c.OrderSeq)
		sellers[i], amounts[i], orders[i] = c.SellerID, c.Amount.String(), c.OrderID
	}
	if _, err := tx.Exec(ctx, s.q(`INSERT INTO __S__.credits (message_id, line, seller_id, amount, order_id, order_seq)
		SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[]::numeric[], $5::text[], $6::integer[])`),
		messageID, lines, sellers, amounts, orders, seqs); err != nil {
		return false, fmt.Errorf("apply %s: credits: %w", messageID, err)
	}
	// One row per seller (ON CONFLICT DO UPDATE touches a row once per statement), taken in
	// seller order so that concurrent approvals lock balance rows in the same order.
	if _, err := tx.Exec(ctx, s.q(`INSERT INTO __S__.balances AS b (seller_id, amount)
		SELECT seller_id, sum(amount) FROM __S__.credits WHERE message_id = $1 GROUP BY seller_id ORDER BY seller_id
		ON CONFLICT (seller_id) DO UPDATE SET amount = b.amount + excluded.amount`), messageID); err != nil {
		return false, fmt.Errorf("apply %s: balances: %w", messageID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("apply %s: commit: %w", messageID, err)
	}
	return true, nil
}

// Balances implements wallet.Store.
func (s *Store) Balances(ctx context.Context) ([]wallet.Balance, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT seller_id, amount::text FROM __S__.balances ORDER BY seller_id`))
	if err != nil {
		return nil, fmt.Errorf("wallet balances: %w", err)
	}
	defer rows.Close()
	var out []wallet.Balance
	for rows.Next() {
		var (
			b      wallet.Balance
			amount string
		)
		if err := rows.Scan(&b.SellerID, &amount); err != nil {
			return nil, fmt.Errorf("wallet balances: %w", err)
		}
		if b.Amount, err = decimal.NewFromString(amount); err != nil {
			return nil, fmt.Errorf("wallet balances: %s amount %q: %w", b.SellerID, amount, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("wallet balances: %w", err)
	}
	return out, nil
}

// Applied implements wallet.Store.
func (s *Store) Applied(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM __S__.applied_messages`)).Scan(&n); err != nil {
		return 0, fmt.Errorf("wallet applied: %w", err)
	}
	return n, nil
}
