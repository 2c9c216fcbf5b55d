package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
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

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

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
	if !schemaName.MatchString(s.schema) {
		return nil, fmt.Errorf("open read model: bad schema name %q", s.schema)
	}
	if err := s.migrate(ctx); err != nil {
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

// migrate applies every embedded migration newer than the schema's version, in order.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.lockKey("migrate")); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, s.q(`CREATE SCHEMA IF NOT EXISTS __S__;
		CREATE TABLE IF NOT EXISTS __S__.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, s.q("SELECT coalesce(max(version), 0) FROM __S__.schema_migrations")).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: %s: name must start with a version number", name)
		}
		if version <= current {
			continue
		}
		sql, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(string(sql))); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, s.q("INSERT INTO __S__.schema_migrations (version, name) VALUES ($1, $2)"), version, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
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
	if err := tx.Commit(ctx); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	return b, nil
}

// The batch's rows go in as arrays, one statement per table, so a batch of hundreds of
// events costs a handful of statements, not one per row.
const upsertPayments = `INSERT INTO __S__.payment_events (order_id, payment_key, buyer_id, order_name, total_amount, status,
	is_payment_done, approved_at, method, outcome_rule, outcome_code, outcome_message, psp_evidence, operator_alert,
	executions, created_at, updated_at, last_revision, last_position, escalated, expired, completed_at)
SELECT order_id, payment_key, buyer_id, order_name, total_amount::numeric, status, is_payment_done, approved_at, method,
	outcome_rule, outcome_code, outcome_message, psp_evidence::jsonb, operator_alert, executions, created_at, updated_at,
	last_revision, last_position, escalated, expired, completed_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::timestamptz[],
	$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::integer[], $16::timestamptz[],
	$17::timestamptz[], $18::bigint[], $19::bigint[], $20::boolean[], $21::boolean[], $22::timestamptz[])
	AS r(order_id, payment_key, buyer_id, order_name, total_amount, status, is_payment_done, approved_at, method,
	outcome_rule, outcome_code, outcome_message, psp_evidence, operator_alert, executions, created_at, updated_at,
	last_revision, last_position, escalated, expired, completed_at)
ON CONFLICT (order_id) DO UPDATE SET payment_key = EXCLUDED.payment_key, buyer_id = EXCLUDED.buyer_id,
	order_name = EXCLUDED.order_name, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status,
	is_payment_done = EXCLUDED.is_payment_done, approved_at = EXCLUDED.approved_at, method = EXCLUDED.method,
	outcome_rule = EXCLUDED.outcome_rule, outcome_code = EXCLUDED.outcome_code, outcome_message = EXCLUDED.outcome_message,
	psp_evidence = EXCLUDED.psp_evidence, operator_alert = EXCLUDED.operator_alert, executions = EXCLUDED.executions,
	created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, last_revision = EXCLUDED.last_revision,
	last_position = EXCLUDED.last_position, escalated = EXCLUDED.escalated, expired = EXCLUDED.expired,
	completed_at = EXCLUDED.completed_at`

const upsertOrders = `INSERT INTO __S__.payment_orders (order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price,
	amount, status, ledger_updated, wallet_updated, failed_count, threshold)
SELECT order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price::numeric, amount::numeric, status,
	ledger_updated, wallet_updated, failed_count, threshold
FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[],
	$9::text[], $10::boolean[], $11::boolean[], $12::integer[], $13::integer[])
	AS r(order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price, amount, status, ledger_updated,
	wallet_updated, failed_count, threshold)
ON CONFLICT (order_id, seq) DO UPDATE SET buyer_id = EXCLUDED.buyer_id, seller_id = EXCLUDED.seller_id,
	product_id = EXCLUDED.product_id, quantity = EXCLUDED.quantity, unit_price = EXCLUDED.unit_price,
	amount = EXCLUDED.amount, status = EXCLUDED.status, ledger_updated = EXCLUDED.ledger_updated,
	wallet_updated = EXCLUDED.wallet_updated, failed_count = EXCLUDED.failed_count, threshold = EXCLUDED.threshold`

const insertHistory = `INSERT INTO __S__.payment_order_history (position, order_id, seq, previous_status, new_status, reason,
	actor, at, event_id)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::timestamptz[], $9::uuid[])`

// queueRows queues the batch's changed rows and history.
func (s *Store) queueRows(batch *pgx.Batch, b projections.Batch) {
	n := len(b.Changed)
	var (
		id, key, buyer, name, total, status, method, rule, code, msg []string
		evidence                                                     []*string
		done, alert, escalated, expired                              []bool
		approved, completed                                          []*time.Time
		created, updated                                             []time.Time
		executions                                                   []int32
		rev, pos                                                     []int64
	)
	var (
		oID, oBuyer, oSeller, oProduct, oUnit, oAmount, oStatus []string
		oSeq, oFailed, oThreshold                               []int32
		oQty                                                    []int64
		oLedger, oWallet                                        []bool
	)
	for _, p := range b.Changed {
		id, key, buyer, name = append(id, p.OrderID), append(key, p.PaymentKey), append(buyer, p.BuyerID), append(name, p.OrderName)
		total, status, method = append(total, p.TotalAmount.String()), append(status, string(p.Status)), append(method, p.Method)
		rule, code, msg = append(rule, p.OutcomeRule), append(code, p.OutcomeCode), append(msg, p.OutcomeMessage)
		var ev *string
		if len(p.Evidence) > 0 {
			e := string(p.Evidence)
			ev = &e
		}
		evidence = append(evidence, ev)
		done, alert = append(done, p.IsPaymentDone), append(alert, p.OperatorAlert)
		escalated, expired = append(escalated, p.Escalated), append(expired, p.Expired)
		approved, completed = append(approved, p.ApprovedAt), append(completed, p.CompletedAt)
		created, updated = append(created, p.CreatedAt), append(updated, p.UpdatedAt)
		executions = append(executions, int32(p.Executions))
		rev, pos = append(rev, int64(p.Revision)), append(pos, int64(p.Position))
		for _, o := range p.Orders {
			oID, oBuyer, oSeller, oProduct = append(oID, o.OrderID), append(oBuyer, o.BuyerID), append(oSeller, o.SellerID), append(oProduct, o.ProductID)
			oUnit, oAmount, oStatus = append(oUnit, o.UnitPrice.String()), append(oAmount, o.Amount.String()), append(oStatus, string(o.Status))
			oSeq, oFailed, oThreshold = append(oSeq, int32(o.Seq)), append(oFailed, int32(o.FailedCount)), append(oThreshold, int32(o.Threshold))
			oQty, oLedger, oWallet = append(oQty, o.Quantity), append(oLedger, o.LedgerUpdated), append(oWallet, o.WalletUpdated)
		}
	}
	if n > 0 {
		batch.Queue(s.q(upsertPayments), id, key, buyer, name, total, status, done, approved, method, rule, code, msg, evidence,
			alert, executions, created, updated, rev, pos, escalated, expired, completed)
	}
	if len(oID) > 0 {
		batch.Queue(s.q(upsertOrders), oID, oSeq, oBuyer, oSeller, oProduct, oQty, oUnit, oAmount, oStatus, oLedger, oWallet,
			oFailed, oThreshold)
	}
	if len(b.History) == 0 {
		return
	}
	var (
		hPos                              []int64
		hID, hPrev, hNew, hReason, hActor []string
		hSeq                              []int32
		hAt                               []time.Time
		hEvent                            []uuid.UUID
	)
	for _, h := range b.History {
		hPos, hID, hSeq = append(hPos, int64(h.Position)), append(hID, h.OrderID), append(hSeq, int32(h.Seq))
		hPrev, hNew, hReason, hActor = append(hPrev, string(h.Previous)), append(hNew, string(h.New)), append(hReason, h.Reason), append(hActor, h.Actor)
		hAt, hEvent = append(hAt, h.At), append(hEvent, h.EventID)
	}
	batch.Queue(s.q(insertHistory), hPos, hID, hSeq, hPrev, hNew, hReason, hActor, hAt, hEvent)
}

const paymentCols = `order_id, payment_key, buyer_id, order_name, total_amount, status, is_payment_done, approved_at, method,
	outcome_rule, outcome_code, outcome_message, psp_evidence, operator_alert, executions, created_at, updated_at,
	last_revision, last_position, escalated, expired, completed_at`

const orderCols = `order_id, seq, buyer_id, seller_id, product_id, quantity, unit_price, amount, status, ledger_updated,
	wallet_updated, failed_count, threshold`

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
	return payments, s.attachOrders(ctx, q, payments)
}

func (s *Store) attachOrders(ctx context.Context, q querier, payments []projections.Payment) error {
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
	return nil
}

func scanPayment(row pgx.CollectableRow) (projections.Payment, error) {
	var (
		p             projections.Payment
		status        string
		approved      *time.Time
		completed     *time.Time
		evidence      []byte
		revision, pos int64
	)
	err := row.Scan(&p.OrderID, &p.PaymentKey, &p.BuyerID, &p.OrderName, &p.TotalAmount, &status, &p.IsPaymentDone, &approved,
		&p.Method, &p.OutcomeRule, &p.OutcomeCode, &p.OutcomeMessage, &evidence, &p.OperatorAlert, &p.Executions,
		&p.CreatedAt, &p.UpdatedAt, &revision, &pos, &p.Escalated, &p.Expired, &completed)
	if err != nil {
		return p, err
	}
	p.Status, p.Revision, p.Position = aggregate.Status(status), eventstore.Revision(revision), eventstore.Position(pos)
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
		&o.LedgerUpdated, &o.WalletUpdated, &o.FailedCount, &o.Threshold)
	o.Status = aggregate.Status(status)
	return o, err
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
	if f.Cursor != "" {
		c, err := projections.DecodeCursor(f.Cursor)
		if err != nil {
			return projections.Page{}, fmt.Errorf("list: %w", err)
		}
		where = append(where, "(p.created_at, p.order_id) > ("+arg(c.CreatedAt)+"::timestamptz, "+arg(c.OrderID)+"::text)")
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
	if err := s.attachOrders(ctx, tx, items); err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	page.Items = items
	return page, nil
}

// DueForRecovery returns EXECUTING payments last updated before executingBefore and UNKNOWN
// ones, oldest first; escalated payments wait for an operator, not for recovery.
func (s *Store) DueForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT order_id FROM __S__.payment_events
		WHERE NOT escalated AND (status = 'UNKNOWN' OR (status = 'EXECUTING' AND updated_at < $1))
		ORDER BY updated_at, order_id LIMIT $2`), executingBefore, limit)
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

// Exclusive runs fn while this process holds the projection lease: a session-level advisory
// lock on a dedicated connection. It stands by (retrying every standby poll) while another
// process holds it, and cancels fn when the lock's connection fails.
func (s *Store) Exclusive(ctx context.Context, fn func(ctx context.Context) error) error {
	key := s.lockKey("projector")
	for {
		conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
		if err != nil {
			return fmt.Errorf("projection lease: connect: %w", err)
		}
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("projection lease: %w", err)
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

// ErrLeaseLost: the connection holding the projection lease failed.
var ErrLeaseLost = errors.New("projection lease lost")

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
