package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/postgres/migrate"
)

var _ ledger.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema holds the ledger's tables.
const DefaultSchema = "ledger"

// Store is the ledger in one PostgreSQL schema. Safe for concurrent use, also by several
// processes sharing the database.
type Store struct {
	pool   *pgxpool.Pool
	schema string
}

// Option configures Open.
type Option func(*Store)

// WithSchema puts the tables in schema (lower-case letters, digits, '_'; default "ledger").
func WithSchema(schema string) Option { return func(s *Store) { s.schema = schema } }

// Open applies the pending migrations (serialised across processes by an advisory lock) and
// returns the store. The pool stays the caller's to close.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, schema: DefaultSchema}
	for _, o := range opts {
		o(s)
	}
	if err := migrate.Apply(ctx, s.pool, migrations, "migrations", s.schema); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", s.schema, err)
	}
	return s, nil
}

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// q qualifies the tables of a statement with the store's schema.
func (s *Store) q(sql string) string { return strings.ReplaceAll(sql, "__S__", s.schema) }

// Post implements ledger.Store. The transaction row and its entries are inserted in one
// database transaction; a deferred trigger refuses it at commit unless it balances, the
// primary key on the id makes a redelivery post nothing (also when 20 callers race), and
// the unique reverses column lets a transaction be reversed once.
func (s *Store) Post(ctx context.Context, t ledger.Transaction) (bool, error) {
	if !t.Balanced() {
		return false, fmt.Errorf("post %s: %w", t.ID, ledger.ErrUnbalanced)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("post %s: begin: %w", t.ID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var reverses, partOf *string
	if t.Reverses != "" {
		reverses = &t.Reverses
	}
	if t.Of != "" {
		// Serialise the parts of one booking, so two cannot both fit in what is left.
		var one int
		err := tx.QueryRow(ctx, s.q(`SELECT 1 FROM __S__.transactions WHERE id = $1 FOR UPDATE`), t.Of).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("post %s: part of %s: %w", t.ID, t.Of, ledger.ErrNotFound)
		}
		if err != nil {
			return false, fmt.Errorf("post %s: lock %s: %w", t.ID, t.Of, err)
		}
		partOf = &t.Of
	}
	tag, err := tx.Exec(ctx, s.q(`INSERT INTO __S__.transactions (id, kind, order_id, reverses, part_of, reason, posted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`),
		t.ID, t.Kind, t.OrderID, reverses, partOf, t.Reason, t.PostedAt)
	if err != nil {
		return false, fmt.Errorf("post %s: %w", t.ID, translate(err, t))
	}
	if tag.RowsAffected() == 0 {
		return false, nil // posted before
	}
	n := len(t.Entries)
	lines, seqs := make([]int32, n), make([]int32, n)
	accounts, sides, amounts := make([]string, n), make([]string, n), make([]string, n)
	for i, e := range t.Entries {
		lines[i], seqs[i] = int32(i+1), int32(e.OrderSeq)
		accounts[i], sides[i], amounts[i] = e.Account, string(e.Side), e.Amount.String()
	}
	if _, err := tx.Exec(ctx, s.q(`INSERT INTO __S__.entries (transaction_id, line, account, side, amount, order_seq)
		SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[]::numeric[], $6::integer[])`),
		t.ID, lines, accounts, sides, amounts, seqs); err != nil {
		return false, fmt.Errorf("post %s: entries: %w", t.ID, translate(err, t))
	}
	if t.Of != "" {
		var seq int32
		var taken, booked string
		err := tx.QueryRow(ctx, s.q(`WITH booked AS (
				SELECT order_seq, sum(amount) AS amount FROM __S__.entries
				WHERE transaction_id = $1 AND side = 'credit' AND account LIKE 'seller\_payable:%' GROUP BY order_seq),
			taken AS (
				SELECT e.order_seq, sum(e.amount) AS amount FROM __S__.transactions t JOIN __S__.entries e ON e.transaction_id = t.id
				WHERE t.part_of = $1 AND e.side = 'debit' AND e.account LIKE 'seller\_payable:%' GROUP BY e.order_seq)
			SELECT taken.order_seq, taken.amount::text, coalesce(booked.amount, 0)::text
			FROM taken LEFT JOIN booked USING (order_seq) WHERE taken.amount > coalesce(booked.amount, 0) LIMIT 1`), t.Of).
			Scan(&seq, &taken, &booked)
		if err == nil {
			return false, fmt.Errorf("post %s: order %d of %s: %s taken back of %s: %w", t.ID, seq, t.Of, taken, booked, ledger.ErrOverReversed)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("post %s: check what is taken back of %s: %w", t.ID, t.Of, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("post %s: commit: %w", t.ID, translate(err, t))
	}
	return true, nil
}

// translate maps constraint violations to the ledger's errors.
func translate(err error, t ledger.Transaction) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == "23514": // check_violation: unbalanced, non-positive amount, bad side
		return fmt.Errorf("%s: %w", pgErr.Message, ledger.ErrUnbalanced)
	case pgErr.Code == "23503" && t.Reverses != "": // foreign_key_violation on reverses
		return fmt.Errorf("reverses %s: %w", t.Reverses, ledger.ErrNotFound)
	case pgErr.Code == "23505" && pgErr.ConstraintName == "transactions_reverses_key":
		return fmt.Errorf("reverses %s: %w", t.Reverses, ledger.ErrAlreadyReversed)
	}
	return err
}

// Transaction implements ledger.Store.
func (s *Store) Transaction(ctx context.Context, id string) (ledger.Transaction, error) {
	txs, err := s.load(ctx, "WHERE t.id = $1", id)
	if err != nil {
		return ledger.Transaction{}, fmt.Errorf("transaction %s: %w", id, err)
	}
	if len(txs) == 0 {
		return ledger.Transaction{}, fmt.Errorf("transaction %s: %w", id, ledger.ErrNotFound)
	}
	return txs[0], nil
}

// Transactions implements ledger.Store.
func (s *Store) Transactions(ctx context.Context) ([]ledger.Transaction, error) {
	txs, err := s.load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("transactions: %w", err)
	}
	return txs, nil
}

// load reads the transactions matching where, in posting order, with their entries.
func (s *Store) load(ctx context.Context, where string, args ...any) ([]ledger.Transaction, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT t.id, t.kind, t.order_id, coalesce(t.reverses, ''), coalesce(t.part_of, ''), t.reason, t.posted_at,
			e.account, e.side, e.amount::text, e.order_seq
		FROM __S__.transactions t JOIN __S__.entries e ON e.transaction_id = t.id `+where+`
		ORDER BY t.seq, e.line`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var txs []ledger.Transaction
	for rows.Next() {
		var (
			t        ledger.Transaction
			e        ledger.Entry
			side     string
			amount   string
			orderSeq int32
			posted   time.Time
		)
		if err := rows.Scan(&t.ID, &t.Kind, &t.OrderID, &t.Reverses, &t.Of, &t.Reason, &posted,
			&e.Account, &side, &amount, &orderSeq); err != nil {
			return nil, err
		}
		if e.Amount, err = decimal.NewFromString(amount); err != nil {
			return nil, fmt.Errorf("entry of %s: amount %q: %w", t.ID, amount, err)
		}
		e.Side, e.OrderSeq = ledger.Side(side), int(orderSeq)
		if len(txs) == 0 || txs[len(txs)-1].ID != t.ID {
			t.PostedAt = posted.UTC()
			txs = append(txs, t)
		}
		last := &txs[len(txs)-1]
		last.Entries = append(last.Entries, e)
	}
	return txs, rows.Err()
}

// TakenBack implements ledger.Store.
func (s *Store) TakenBack(ctx context.Context, booking string) (map[int]decimal.Decimal, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT e.order_seq, sum(e.amount)::text
		FROM __S__.transactions t JOIN __S__.entries e ON e.transaction_id = t.id
		WHERE t.part_of = $1 AND e.side = 'debit' AND e.account LIKE 'seller\_payable:%' GROUP BY e.order_seq`), booking)
	if err != nil {
		return nil, fmt.Errorf("taken back of %s: %w", booking, err)
	}
	defer rows.Close()
	out := map[int]decimal.Decimal{}
	for rows.Next() {
		var (
			seq    int32
			amount string
		)
		if err := rows.Scan(&seq, &amount); err != nil {
			return nil, fmt.Errorf("taken back of %s: %w", booking, err)
		}
		if out[int(seq)], err = decimal.NewFromString(amount); err != nil {
			return nil, fmt.Errorf("taken back of %s: order %d amount %q: %w", booking, seq, amount, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("taken back of %s: %w", booking, err)
	}
	return out, nil
}

// Balances implements ledger.Store: an aggregate over the entries (indexed by account), so
// no balance row is a hot spot every booking must lock, and balances can never drift from
// the entries.
func (s *Store) Balances(ctx context.Context) ([]ledger.Balance, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT account,
			coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0)::text,
			coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)::text
		FROM __S__.entries GROUP BY account ORDER BY account`))
	if err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	defer rows.Close()
	var out []ledger.Balance
	for rows.Next() {
		var (
			b               ledger.Balance
			debits, credits string
		)
		if err := rows.Scan(&b.Account, &debits, &credits); err != nil {
			return nil, fmt.Errorf("balances: %w", err)
		}
		if b.Debits, err = decimal.NewFromString(debits); err != nil {
			return nil, fmt.Errorf("balances: %s debits %q: %w", b.Account, debits, err)
		}
		if b.Credits, err = decimal.NewFromString(credits); err != nil {
			return nil, fmt.Errorf("balances: %s credits %q: %w", b.Account, credits, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	return out, nil
}
