package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/postgres/migrate"
	"github.com/paystream/paystream/projections"
)

var (
	_ projections.Store     = (*Store)(nil)
	_ projections.Exclusive = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema holds the live read models.
const DefaultSchema = "readmodel"

const checkpointName = "payments"

var _ projections.Store = (*Store)(nil)

// Store is the PostgreSQL read model in one schema. Safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	// StandbyPoll is how often a standing-by projector retries the lease (default 1 s).
	standbyPoll time.Duration
}

// Option configures Open.
type Option func(*Store)

// WithSchema puts the tables in schema (lower-case letters, digits, '_').
func WithSchema(schema string) Option { return func(s *Store) { s.schema = schema } }

// WithStandbyPoll sets how often a standing-by projector retries the lease.
func WithStandbyPoll(d time.Duration) Option { return func(s *Store) { s.standbyPoll = d } }

// Open applies the pending migrations (serialised across processes by an advisory lock) and
// returns the store. The pool stays the caller's to close.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, schema: DefaultSchema, standbyPoll: time.Second}
	for _, o := range opts {
		o(s)
	}
	if err := migrate.Apply(ctx, s.pool, migrations, "migrations", s.schema); err != nil {
		return nil, fmt.Errorf("open read model %s: %w", s.schema, err)
	}
	return s, nil
}

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// q qualifies the tables of a statement with the store's schema.
func (s *Store) q(sql string) string { return strings.ReplaceAll(sql, "__S__", s.schema) }

func (s *Store) lockKey(purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("paystream." + purpose + "." + s.schema))
	return int64(h.Sum64())
}

// Checkpoint returns the position of the last applied event.
func (s *Store) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	var p int64
	err := s.pool.QueryRow(ctx, s.q("SELECT position FROM __S__.projection_checkpoint WHERE name = $1"), checkpointName).Scan(&p)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	return eventstore.Position(p), nil
}

// Commit applies events in one transaction; see projections.Target.
func (s *Store) Commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (projections.Batch, error) {
	b, err := s.commit(ctx, from, events)
	return b, rejectedIfData(err)
}

// rejectedIfData marks errors in which PostgreSQL refused the values themselves (class 22,
// data exception: e.g. a NUL or invalid UTF-8 in text, a number out of range; class 23,
// integrity constraint violation) with projections.ErrRejected: retrying the same events
// cannot help, unlike a lost connection or a full disk.
func rejectedIfData(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		return fmt.Errorf("%w: %w", projections.ErrRejected, err)
	}
	return err
}

func (s *Store) commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (projections.Batch, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return projections.Batch{}, fmt.Errorf("commit: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	var stored int64
	if err := tx.QueryRow(ctx, s.q("SELECT position FROM __S__.projection_checkpoint WHERE name = $1 FOR UPDATE"), checkpointName).Scan(&stored); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: lock checkpoint: %w", err)
	}
	if eventstore.Position(stored) != from {
		return projections.Batch{}, fmt.Errorf("commit after %d (stored %d): %w", from, stored, projections.ErrCheckpointMoved)
	}
	// The rows of a batch are a few hundred primary-key lookups and updates, which only an
	// index serves well; on a young table (a rebuild, a fresh database) the planner has no
	// statistics yet and picks sequential scans that grow with the table (this made loading
	// the rows cost as much as writing them in the benchmark). Only this transaction is affected.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	loaded, err := s.load(ctx, tx, projections.OrderIDs(events))
	if err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	rows := make(map[string]*projections.Payment, len(loaded))
	for i := range loaded {
		rows[loaded[i].OrderID] = &loaded[i]
	}
	b := projections.ApplyBatch(rows, from, events)
	if b.Applied == 0 {
		return b, nil
	}
	batch := &pgx.Batch{}
	s.queueRows(batch, b)
	batch.Queue(s.q("UPDATE __S__.projection_checkpoint SET position = $2, updated_at = now() WHERE name = $1"),
		checkpointName, int64(b.Checkpoint))
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: write: %w", err)
	}
	if err := s.copyHistory(ctx, tx, b.History); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: write history: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	return b, nil
}

// The batch's rows go in as arrays, one statement per table and kind of write, so a batch of
// thousands of events costs a handful of statements, not one per row. Payments the batch
// created are plain inserts and the others plain updates: the rows were loaded in this
// transaction under the checkpoint's row lock, which every writer takes first, so whether a
// row exists is known, and an insert that still collides fails loudly instead of guessing.
const paymentArgs = `$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::timestamptz[],
	$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::integer[], $16::timestamptz[],
	$17::timestamptz[], $18::bigint[], $19::bigint[], $20::boolean[], $21::boolean[], $22::timestamptz[], $23::text[], $24::text[],
	$25::text[], $26::text[], $27::text[], $28::text[], $29::timestamptz[]`

const insertPayments = `INSERT INTO __S__.payment_events (` + paymentCols + `)
SELECT order_id, payment_key, buyer_id, order_name, total_amount::numeric, status, is_payment_done, approved_at, method,
	outcome_rule, outcome_code, outcome_message, psp_evidence::jsonb, operator_alert, executions, created_at, updated_at,
	last_revision, last_position, escalated, expired, completed_at, refunded_amount::numeric, outcome_status,
	va_account_type, va_bank_code, va_account_number, va_holder_name, va_due_date
FROM unnest(` + paymentArgs + `) AS r(` + paymentCols + `)`

const updatePayments = `UPDATE __S__.payment_events p SET payment_key = r.payment_key, buyer_id = r.buyer_id,
	order_name = r.order_name, total_amount = r.total_amount::numeric, status = r.status,
	is_payment_done = r.is_payment_done, approved_at = r.approved_at, method = r.method,
	outcome_rule = r.outcome_rule, outcome_code = r.outcome_code, outcome_message = r.outcome_message,
	psp_evidence = r.psp_evidence::jsonb, operator_alert = r.operator_alert, executions = r.executions,
	created_at = r.created_at, updated_at = r.updated_at, last_revision = r.last_revision,
	last_position = r.last_position, escalated = r.escalated, expired = r.expired, completed_at = r.completed_at,
	refunded_amount = r.refunded_amount::numeric, outcome_status = r.outcome_status,
	va_account_type = r.va_account_type, va_bank_code = r.va_bank_code, va_account_number = r.va_account_number,
	va_holder_name = r.va_holder_name, va_due_date = r.va_due_date
FROM unnest(` + paymentArgs + `) AS r(` + paymentCols + `)
WHERE p.order_id = r.order_id`

const orderArgs = `$1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[],
	$9::text[], $10::boolean[], $11::boolean[], $12::integer[], $13::integer[], $14::text[]`

const insertOrders = `INSERT INTO __S__.payment_orders (` + orderCols + `)
SELECT order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price::numeric, amount::numeric, status,
	ledger_updated, wallet_updated, failed_count, threshold, refunded_amount::numeric
FROM unnest(` + orderArgs + `) AS r(` + orderCols + `)`

const updateOrders = `UPDATE __S__.payment_orders o SET buyer_id = r.buyer_id, seller_id = r.seller_id,
	product_id = r.product_id, quantity = r.quantity, unit_price = r.unit_price::numeric, amount = r.amount::numeric,
	status = r.status, ledger_updated = r.ledger_updated, wallet_updated = r.wallet_updated,
	failed_count = r.failed_count, threshold = r.threshold, refunded_amount = r.refunded_amount::numeric
FROM unnest(` + orderArgs + `) AS r(` + orderCols + `)
WHERE o.order_id = r.order_id AND o.seq = r.seq`

const refundArgs = `$1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::boolean[], $16::text[],
	$17::integer[], $18::integer[], $19::boolean[], $20::boolean[], $21::boolean[], $22::text[], $23::timestamptz[],
	$24::timestamptz[]`

const insertRefunds = `INSERT INTO __S__.payment_refunds (` + refundCols + `)
SELECT order_id, refund_id, seq, amount::numeric, orders::jsonb, reason, tax_free_amount::numeric, status, outcome_status,
	outcome_rule, outcome_code, outcome_message, transaction_key, canceled_at, external, found_by, failed_count, threshold,
	escalated, ledger_booked, wallet_booked, psp_idempotency_key, requested_at, updated_at
FROM unnest(` + refundArgs + `) AS r(` + refundCols + `)`

const updateRefunds = `UPDATE __S__.payment_refunds f SET seq = r.seq, amount = r.amount::numeric, orders = r.orders::jsonb,
	reason = r.reason, tax_free_amount = r.tax_free_amount::numeric, status = r.status, outcome_status = r.outcome_status,
	outcome_rule = r.outcome_rule, outcome_code = r.outcome_code, outcome_message = r.outcome_message,
	transaction_key = r.transaction_key, canceled_at = r.canceled_at, external = r.external, found_by = r.found_by,
	failed_count = r.failed_count, threshold = r.threshold, escalated = r.escalated, ledger_booked = r.ledger_booked,
	wallet_booked = r.wallet_booked, psp_idempotency_key = r.psp_idempotency_key, requested_at = r.requested_at,
	updated_at = r.updated_at
FROM unnest(` + refundArgs + `) AS r(` + refundCols + `)
WHERE f.order_id = r.order_id AND f.refund_id = r.refund_id`

// historyCols are payment_order_history's columns as copyHistory sends them.
var historyCols = []string{"position", "order_id", "seq", "previous_status", "new_status", "reason", "actor", "at", "event_id"}

// copyHistory appends the batch's history rows with COPY: they are only ever inserted, and
// COPY is the cheapest way into PostgreSQL for the one table that grows per event.
func (s *Store) copyHistory(ctx context.Context, tx pgx.Tx, hs []projections.History) error {
	if len(hs) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "payment_order_history"}, historyCols,
		pgx.CopyFromSlice(len(hs), func(i int) ([]any, error) {
			h := hs[i]
			return []any{int64(h.Position), h.OrderID, int32(h.Seq), string(h.Previous), string(h.New), h.Reason, h.Actor, h.At, [16]byte(h.EventID)}, nil
		}))
	return err
}

// queueRows queues the batch's row writes: each changed payment once with its final values
// (inserted or updated), and only the order rows that are new or differ from before the batch.
func (s *Store) queueRows(batch *pgx.Batch, b projections.Batch) {
	var newPayments, oldPayments paymentArrays
	var newOrders, oldOrders orderArrays
	var newRefunds, oldRefunds refundArrays
	for i, p := range b.Changed {
		before := b.Before[i]
		if before == nil {
			newPayments.add(p)
		} else {
			oldPayments.add(p)
		}
		insert, update := projections.OrderChanges(before, p)
		for _, o := range insert {
			newOrders.add(o)
		}
		for _, o := range update {
			oldOrders.add(o)
		}
		insertR, updateR := projections.RefundChanges(before, p)
		for _, r := range insertR {
			newRefunds.add(r)
		}
		for _, r := range updateR {
			oldRefunds.add(r)
		}
	}
	// Payments first: the orders' foreign key needs them.
	if len(newPayments.id) > 0 {
		batch.Queue(s.q(insertPayments), newPayments.args()...)
	}
	if len(oldPayments.id) > 0 {
		batch.Queue(s.q(updatePayments), oldPayments.args()...)
	}
	if len(newOrders.id) > 0 {
		batch.Queue(s.q(insertOrders), newOrders.args()...)
	}
	if len(oldOrders.id) > 0 {
		batch.Queue(s.q(updateOrders), oldOrders.args()...)
	}
	if len(newRefunds.id) > 0 {
		batch.Queue(s.q(insertRefunds), newRefunds.args()...)
	}
	if len(oldRefunds.id) > 0 {
		batch.Queue(s.q(updateRefunds), oldRefunds.args()...)
	}
}

// paymentArrays are payment rows column by column, in paymentCols order.
type paymentArrays struct {
	id, key, buyer, name, total, status, method, rule, code, msg []string
	evidence                                                     []*string
	done, alert, escalated, expired                              []bool
	approved, completed                                          []*time.Time
	created, updated                                             []time.Time
	executions                                                   []int32
	rev, pos                                                     []int64
	refunded, outcomeStatus                                      []string
	vaType, vaBank, vaNumber, vaHolder                           []string
	vaDue                                                        []*time.Time
}

func (a *paymentArrays) add(p *projections.Payment) {
	a.id, a.key, a.buyer, a.name = append(a.id, p.OrderID), append(a.key, p.PaymentKey), append(a.buyer, p.BuyerID), append(a.name, p.OrderName)
	a.total, a.status, a.method = append(a.total, p.TotalAmount.String()), append(a.status, string(p.Status)), append(a.method, p.Method)
	a.rule, a.code, a.msg = append(a.rule, p.OutcomeRule), append(a.code, p.OutcomeCode), append(a.msg, p.OutcomeMessage)
	var ev *string
	if len(p.Evidence) > 0 {
		e := string(p.Evidence)
		ev = &e
	}
	a.evidence = append(a.evidence, ev)
	a.done, a.alert = append(a.done, p.IsPaymentDone), append(a.alert, p.OperatorAlert)
	a.escalated, a.expired = append(a.escalated, p.Escalated), append(a.expired, p.Expired)
	a.approved, a.completed = append(a.approved, p.ApprovedAt), append(a.completed, p.CompletedAt)
	a.created, a.updated = append(a.created, p.CreatedAt), append(a.updated, p.UpdatedAt)
	a.executions = append(a.executions, int32(p.Executions))
	a.rev, a.pos = append(a.rev, int64(p.Revision)), append(a.pos, int64(p.Position))
	a.refunded, a.outcomeStatus = append(a.refunded, p.RefundedAmount.String()), append(a.outcomeStatus, string(p.OutcomeStatus))
	var va projections.VirtualAccount
	var due *time.Time // NULL: no account
	if p.VirtualAccount != nil {
		va = *p.VirtualAccount
		due = &va.DueDate
	}
	a.vaType, a.vaBank, a.vaNumber = append(a.vaType, va.AccountType), append(a.vaBank, va.BankCode), append(a.vaNumber, va.AccountNumber)
	a.vaHolder, a.vaDue = append(a.vaHolder, va.HolderName), append(a.vaDue, due)
}

func (a *paymentArrays) args() []any {
	return []any{a.id, a.key, a.buyer, a.name, a.total, a.status, a.done, a.approved, a.method, a.rule, a.code, a.msg,
		a.evidence, a.alert, a.executions, a.created, a.updated, a.rev, a.pos, a.escalated, a.expired, a.completed, a.refunded,
		a.outcomeStatus, a.vaType, a.vaBank, a.vaNumber, a.vaHolder, a.vaDue}
}

// orderArrays are order rows column by column, in orderCols order.
type orderArrays struct {
	id, buyer, seller, product, unit, amount, status, refunded []string
	seq, failed, threshold                                     []int32
	qty                                                        []int64
	ledger, wallet                                             []bool
}

func (a *orderArrays) add(o projections.Order) {
	a.id, a.buyer, a.seller, a.product = append(a.id, o.OrderID), append(a.buyer, o.BuyerID), append(a.seller, o.SellerID), append(a.product, o.ProductID)
	a.unit, a.amount, a.status = append(a.unit, o.UnitPrice.String()), append(a.amount, o.Amount.String()), append(a.status, string(o.Status))
	a.seq, a.failed, a.threshold = append(a.seq, int32(o.Seq)), append(a.failed, int32(o.FailedCount)), append(a.threshold, int32(o.Threshold))
	a.qty, a.ledger, a.wallet = append(a.qty, o.Quantity), append(a.ledger, o.LedgerUpdated), append(a.wallet, o.WalletUpdated)
	a.refunded = append(a.refunded, o.Refunded.String())
}

func (a *orderArrays) args() []any {
	return []any{a.id, a.seq, a.buyer, a.seller, a.product, a.qty, a.unit, a.amount, a.status, a.ledger, a.wallet,
		a.failed, a.threshold, a.refunded}
}

// refundArrays are refund rows column by column, in refundCols order.
type refundArrays struct {
	id, refund, amount, reason, taxFree, status, outcomeStatus, rule, code, msg, txKey, foundBy, pspKey []string
	orders                                                                                              []*string
	seq, failed, threshold                                                                              []int32
	external, escalated, ledger, wallet                                                                 []bool
	canceled                                                                                            []*time.Time
	requested, updated                                                                                  []time.Time
}

func (a *refundArrays) add(r projections.Refund) {
	var orders *string
	if r.Orders != nil {
		b, _ := json.Marshal(r.Orders) // splits of ints and decimals always marshal
		o := string(b)
		orders = &o
	}
	a.id, a.refund, a.seq = append(a.id, r.OrderID), append(a.refund, r.RefundID), append(a.seq, int32(r.Seq))
	a.amount, a.orders, a.reason = append(a.amount, r.Amount.String()), append(a.orders, orders), append(a.reason, r.Reason)
	a.taxFree, a.status = append(a.taxFree, r.TaxFreeAmount.String()), append(a.status, string(r.Status))
	a.outcomeStatus, a.rule = append(a.outcomeStatus, string(r.OutcomeStatus)), append(a.rule, r.OutcomeRule)
	a.code, a.msg, a.txKey = append(a.code, r.OutcomeCode), append(a.msg, r.OutcomeMessage), append(a.txKey, r.TransactionKey)
	a.canceled, a.external, a.foundBy = append(a.canceled, r.CanceledAt), append(a.external, r.External), append(a.foundBy, r.FoundBy)
	a.failed, a.threshold, a.escalated = append(a.failed, int32(r.FailedCount)), append(a.threshold, int32(r.Threshold)), append(a.escalated, r.Escalated)
	a.ledger, a.wallet, a.pspKey = append(a.ledger, r.LedgerBooked), append(a.wallet, r.WalletBooked), append(a.pspKey, r.PspIdempotencyKey)
	a.requested, a.updated = append(a.requested, r.RequestedAt), append(a.updated, r.UpdatedAt)
}

func (a *refundArrays) args() []any {
	return []any{a.id, a.refund, a.seq, a.amount, a.orders, a.reason, a.taxFree, a.status, a.outcomeStatus, a.rule, a.code,
		a.msg, a.txKey, a.canceled, a.external, a.foundBy, a.failed, a.threshold, a.escalated, a.ledger, a.wallet, a.pspKey,
		a.requested, a.updated}
}

const paymentCols = `order_id, payment_key, buyer_id, order_name, total_amount, status, is_payment_done, approved_at, method,
	outcome_rule, outcome_code, outcome_message, psp_evidence, operator_alert, executions, created_at, updated_at,
	last_revision, last_position, escalated, expired, completed_at, refunded_amount, outcome_status, va_account_type,
	va_bank_code, va_account_number, va_holder_name, va_due_date`

const orderCols = `order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price, amount, status, ledger_updated,
	wallet_updated, failed_count, threshold, refunded_amount`

const refundCols = `order_id, refund_id, seq, amount, orders, reason, tax_free_amount, status, outcome_status, outcome_rule,
	outcome_code, outcome_message, transaction_key, canceled_at, external, found_by, failed_count, threshold, escalated,
	ledger_booked, wallet_booked, psp_idempotency_key, requested_at, updated_at`

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// load reads the payments with these orderIds and their orders.
func (s *Store) load(ctx context.Context, q querier, ids []string) ([]projections.Payment, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, s.q("SELECT "+paymentCols+" FROM __S__.payment_events WHERE order_id = ANY($1)"), ids)
	if err != nil {
		return nil, fmt.Errorf("load payments: %w", err)
	}
	payments, err := pgx.CollectRows(rows, scanPayment)
	if err != nil {
		return nil, fmt.Errorf("load payments: %w", err)
	}
	return payments, s.attach(ctx, q, payments)
}

// attach reads the payments' orders and refunds into them.
func (s *Store) attach(ctx context.Context, q querier, payments []projections.Payment) error {
	if len(payments) == 0 {
		return nil
	}
	ids := make([]string, len(payments))
	at := make(map[string]int, len(payments))
	for i, p := range payments {
		ids[i], at[p.OrderID] = p.OrderID, i
	}
	rows, err := q.Query(ctx, s.q("SELECT "+orderCols+" FROM __S__.payment_orders WHERE order_id = ANY($1) ORDER BY order_id, seq"), ids)
	if err != nil {
		return fmt.Errorf("load orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return fmt.Errorf("load orders: %w", err)
	}
	for _, o := range orders {
		i := at[o.OrderID]
		payments[i].Orders = append(payments[i].Orders, o)
	}
	rows, err = q.Query(ctx, s.q("SELECT "+refundCols+" FROM __S__.payment_refunds WHERE order_id = ANY($1) ORDER BY order_id, seq"), ids)
	if err != nil {
		return fmt.Errorf("load refunds: %w", err)
	}
	refunds, err := pgx.CollectRows(rows, scanRefund)
	if err != nil {
		return fmt.Errorf("load refunds: %w", err)
	}
	for _, r := range refunds {
		i := at[r.OrderID]
		payments[i].Refunds = append(payments[i].Refunds, r)
	}
	return nil
}

func scanPayment(row pgx.CollectableRow) (projections.Payment, error) {
	var (
		p             projections.Payment
		status        string
		outcomeStatus string
		approved      *time.Time
		completed     *time.Time
		evidence      []byte
		revision, pos int64
		va            projections.VirtualAccount
		vaDue         *time.Time
	)
	err := row.Scan(&p.OrderID, &p.PaymentKey, &p.BuyerID, &p.OrderName, &p.TotalAmount, &status, &p.IsPaymentDone, &approved,
		&p.Method, &p.OutcomeRule, &p.OutcomeCode, &p.OutcomeMessage, &evidence, &p.OperatorAlert, &p.Executions,
		&p.CreatedAt, &p.UpdatedAt, &revision, &pos, &p.Escalated, &p.Expired, &completed, &p.RefundedAmount,
		&outcomeStatus, &va.AccountType, &va.BankCode, &va.AccountNumber, &va.HolderName, &vaDue)
	if err != nil {
		return p, err
	}
	if vaDue != nil {
		va.DueDate = vaDue.UTC()
		p.VirtualAccount = &va
	}
	p.Status, p.Revision, p.Position = aggregate.Status(status), eventstore.Revision(revision), eventstore.Position(pos)
	p.OutcomeStatus = aggregate.Status(outcomeStatus)
	if approved != nil {
		t := approved.UTC()
		p.ApprovedAt = &t
	}
	if completed != nil {
		t := completed.UTC()
		p.CompletedAt = &t
	}
	if len(evidence) > 0 {
		p.Evidence = evidence
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

func scanOrder(row pgx.CollectableRow) (projections.Order, error) {
	var (
		o      projections.Order
		status string
	)
	err := row.Scan(&o.OrderID, &o.Seq, &o.BuyerID, &o.SellerID, &o.ProductID, &o.Quantity, &o.UnitPrice, &o.Amount, &status,
		&o.LedgerUpdated, &o.WalletUpdated, &o.FailedCount, &o.Threshold, &o.Refunded)
	o.Status = aggregate.Status(status)
	return o, err
}

func scanRefund(row pgx.CollectableRow) (projections.Refund, error) {
	var (
		r                     projections.Refund
		orders                []byte
		status, outcomeStatus string
	)
	err := row.Scan(&r.OrderID, &r.RefundID, &r.Seq, &r.Amount, &orders, &r.Reason, &r.TaxFreeAmount, &status, &outcomeStatus,
		&r.OutcomeRule, &r.OutcomeCode, &r.OutcomeMessage, &r.TransactionKey, &r.CanceledAt, &r.External, &r.FoundBy,
		&r.FailedCount, &r.Threshold, &r.Escalated, &r.LedgerBooked, &r.WalletBooked, &r.PspIdempotencyKey,
		&r.RequestedAt, &r.UpdatedAt)
	if err != nil {
		return r, err
	}
	if orders != nil {
		if err := json.Unmarshal(orders, &r.Orders); err != nil {
			return r, fmt.Errorf("refund %s/%s: orders: %w", r.OrderID, r.RefundID, err)
		}
	}
	r.Status, r.OutcomeStatus = aggregate.Status(status), aggregate.Status(outcomeStatus)
	if r.CanceledAt != nil {
		t := r.CanceledAt.UTC()
		r.CanceledAt = &t
	}
	r.RequestedAt, r.UpdatedAt = r.RequestedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

func jsonOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Payment returns one payment with its orders; projections.ErrNotFound when absent.
func (s *Store) Payment(ctx context.Context, orderID string) (projections.Payment, error) {
	ps, err := s.load(ctx, s.pool, []string{orderID})
	if err != nil {
		return projections.Payment{}, fmt.Errorf("payment %s: %w", orderID, err)
	}
	if len(ps) == 0 {
		return projections.Payment{}, fmt.Errorf("payment %s: %w", orderID, projections.ErrNotFound)
	}
	return ps[0], nil
}

// History returns a payment's order status changes in position order.
func (s *Store) History(ctx context.Context, orderID string) ([]projections.History, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT position, order_id, seq, previous_status, new_status, reason, actor, at, event_id
		FROM __S__.payment_order_history WHERE order_id = $1 ORDER BY position, seq`), orderID)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", orderID, err)
	}
	hs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.History, error) {
		var (
			h         projections.History
			pos       int64
			prev, new string
			id        uuid.UUID
		)
		err := row.Scan(&pos, &h.OrderID, &h.Seq, &prev, &new, &h.Reason, &h.Actor, &h.At, &id)
		h.Position, h.Previous, h.New, h.EventID, h.At = eventstore.Position(pos), aggregate.Status(prev), aggregate.Status(new), id, h.At.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", orderID, err)
	}
	return hs, nil
}

// List returns one page; see projections.ReadModel.
func (s *Store) List(ctx context.Context, f projections.Filter) (projections.Page, error) {
	limit := projections.NormLimit(f.Limit)
	var (
		where []string
		args  []any
	)
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Status != "" {
		where = append(where, "p.status = "+arg(string(f.Status)))
	}
	if f.BuyerID != "" {
		where = append(where, "p.buyer_id = "+arg(f.BuyerID))
	}
	if f.SellerID != "" {
		where = append(where, "EXISTS (SELECT 1 FROM __S__.payment_orders o WHERE o.order_id = p.order_id AND o.seller_id = "+arg(f.SellerID)+")")
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, "p.created_at >= "+arg(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		where = append(where, "p.created_at < "+arg(f.CreatedTo))
	}
	after, err := f.After()
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	if after != nil {
		where = append(where, "(p.created_at, p.order_id) > ("+arg(after.CreatedAt)+"::timestamptz, "+arg(after.OrderID)+"::text)")
	}
	sql := "SELECT " + paymentCols + " FROM __S__.payment_events p"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY p.created_at, p.order_id LIMIT " + arg(limit+1)
	// One snapshot for the page and its orders.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, s.q(sql), args...)
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanPayment)
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	var page projections.Page
	if len(items) > limit {
		items = items[:limit]
		page.NextCursor = projections.EncodeCursor(items[limit-1])
	}
	if err := s.attach(ctx, tx, items); err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	page.Items = items
	return page, nil
}

// openForRecovery is aggregate.State.Open in SQL: the payment's outcome is open
// (OutcomeOpen: UNKNOWN, or EXECUTING since before $1, not escalated; an EXECUTING payment's
// updated_at is when its execution started), or its open refund — the first EXECUTING or
// UNKNOWN one, as State.OpenRefund — is (RefundOpen: UNKNOWN, or last changed before $1,
// not escalated).
const openForRecovery = `SELECT order_id FROM (
	SELECT order_id, updated_at FROM __S__.payment_events
	WHERE NOT escalated AND (status = 'UNKNOWN' OR (status = 'EXECUTING' AND updated_at < $1))
	UNION
	SELECT p.order_id, p.updated_at FROM __S__.payment_refunds r JOIN __S__.payment_events p ON p.order_id = r.order_id
	WHERE r.status IN ('EXECUTING', 'UNKNOWN')
		AND r.seq = (SELECT min(f.seq) FROM __S__.payment_refunds f WHERE f.order_id = r.order_id AND f.status IN ('EXECUTING', 'UNKNOWN'))
		AND NOT r.escalated AND (r.status = 'UNKNOWN' OR r.updated_at < $1)
) open
ORDER BY updated_at, order_id LIMIT $2`

// OpenForRecovery returns the payments open for recovery (aggregate.State.Open, written in
// SQL: the conformance suite pins the two together), oldest first.
func (s *Store) OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, s.q(openForRecovery), executingBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("due for recovery: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("due for recovery: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// depositsDue is Payment.DepositDue in SQL, in DueCursor order (a row without an account,
// whose va_due_date is NULL, sorts as -infinity: first). It reads the partial index
// payment_events_deposit_due, which holds the waiting payments only.
const depositsDue = `SELECT order_id, va_due_date FROM __S__.payment_events
	WHERE status = 'WAITING_FOR_DEPOSIT' AND (va_due_date IS NULL OR va_due_date <= $1)
		AND ($2::text IS NULL OR (coalesce(va_due_date, '-infinity'), order_id) > (coalesce($3::timestamptz, '-infinity'), $2::text))
	ORDER BY va_due_date NULLS FIRST, order_id LIMIT $4`

// DepositsDue returns a page of the payments waiting for a deposit due by dueBy
// (projections.Payment.DepositDue, written in SQL: the conformance suite pins the two
// together), earliest due date first; see projections.ReadModel.
func (s *Store) DepositsDue(ctx context.Context, dueBy time.Time, limit int, cursor string) ([]string, string, error) {
	var afterID *string
	var afterDue *time.Time
	if cursor != "" {
		c, err := projections.DecodeDueCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("deposits due: %w", err)
		}
		afterID = &c.OrderID
		if !c.DueDate.IsZero() {
			afterDue = &c.DueDate
		}
	}
	limit = projections.NormLimit(limit)
	rows, err := s.pool.Query(ctx, s.q(depositsDue), dueBy, afterID, afterDue, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("deposits due: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.DueCursor, error) {
		var (
			c   projections.DueCursor
			due *time.Time
		)
		err := row.Scan(&c.OrderID, &due)
		if due != nil {
			c.DueDate = due.UTC()
		}
		return c, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("deposits due: %w", err)
	}
	ids, next := projections.DuePage(keys, limit)
	return ids, next, nil
}

// WaitFor polls the checkpoint until it reaches p or ctx ends.
func (s *Store) WaitFor(ctx context.Context, p eventstore.Position) error {
	wait := 2 * time.Millisecond
	for {
		cp, err := s.Checkpoint(ctx)
		if err == nil && cp >= p {
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("wait for position %d (at %d): %w", p, cp, ctx.Err())
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// DeadLetter records a poison event; recording it again counts another attempt.
func (s *Store) DeadLetter(ctx context.Context, d projections.DeadLetter) error {
	_, err := s.pool.Exec(ctx, s.q(`INSERT INTO __S__.projection_dead_letters
		(position, stream, revision, event_id, type, data, error, first_at, last_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8)
		ON CONFLICT (position) DO UPDATE SET error = EXCLUDED.error, last_at = EXCLUDED.last_at,
			attempts = __S__.projection_dead_letters.attempts + 1`),
		int64(d.Position), d.Stream, int64(d.Revision), d.EventID, d.Type, d.Data, d.Error, d.At)
	if err != nil {
		return fmt.Errorf("dead letter %s@%d: %w", d.Stream, d.Revision, err)
	}
	return nil
}

// DeadLetters lists the recorded poison events by position.
func (s *Store) DeadLetters(ctx context.Context) ([]projections.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT position, stream, revision, event_id, type, data, error, first_at
		FROM __S__.projection_dead_letters ORDER BY position`))
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.DeadLetter, error) {
		var (
			d        projections.DeadLetter
			pos, rev int64
		)
		err := row.Scan(&pos, &d.Stream, &rev, &d.EventID, &d.Type, &d.Data, &d.Error, &d.At)
		d.Position, d.Revision, d.At = eventstore.Position(pos), eventstore.Revision(rev), d.At.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return ds, nil
}

// Exclusive runs fn while this process holds the projection lease (Lease "projector").
func (s *Store) Exclusive(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Lease(ctx, "projector", fn)
}

// Lease runs fn while this process holds the lease named purpose among the processes that
// share this database: a session-level advisory lock on a dedicated connection. It stands
// by (retrying every standby poll) while another process holds it, and cancels fn when the
// lock's connection fails. paymentd instances run their single-writer roles under one each
// (the projector; the Kafka forwarder), so that a survivor takes a role over within a
// standby poll of its holder dying.
func (s *Store) Lease(ctx context.Context, purpose string, fn func(ctx context.Context) error) error {
	key := s.lockKey(purpose)
	for {
		conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
		if err != nil {
			return fmt.Errorf("%s lease: connect: %w", purpose, err)
		}
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("%s lease: %w", purpose, err)
		}
		if !got {
			conn.Close(context.Background())
			select {
			case <-time.After(s.standbyPoll):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return holding(ctx, conn, key, s.standbyPoll, fn)
	}
}

// ErrLeaseLost: the connection holding a lease failed.
var ErrLeaseLost = errors.New("lease lost")

func holding(ctx context.Context, conn *pgx.Conn, key int64, poll time.Duration, fn func(ctx context.Context) error) error {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(fctx, poll)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil && fctx.Err() == nil {
					cancel(fmt.Errorf("%w: %v", ErrLeaseLost, err))
					return
				}
			}
		}
	}()
	err := fn(fctx)
	cancel(nil)
	<-watched
	if cause := context.Cause(fctx); errors.Is(cause, ErrLeaseLost) {
		err = cause
	}
	uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ucancel()
	_, _ = conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key) // closing the session releases it anyway
	_ = conn.Close(uctx)
	return err
}
