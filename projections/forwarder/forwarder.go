package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
)

// Store is what the forwarder needs of the event store.
type Store interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
	Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error
}

// Forwarder publishes approvals. Its methods are safe for concurrent use, but run one Run
// at a time.
type Forwarder struct {
	store Store
	kafka kafka.Config
	log   *slog.Logger
	cfg   config
	// published counts approvals in committed transactions, for metrics and benchmarks.
	published atomic.Int64
}

type config struct {
	name, topic, checkpointTopic string
	transactionalID              string
	partitions                   int32
	maxBatch                     int
	idleCheckpoint               time.Duration
	progress                     kafka.Progress
}

// Option configures a Forwarder.
type Option func(*config)

// WithName sets the forwarder's name: its checkpoint key and default transactional id
// (default "paystream-forwarder").
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithTopic sets the approvals topic (default kafkamsg.TopicApproved).
func WithTopic(t string) Option { return func(c *config) { c.topic = t } }

// WithCheckpointTopic sets the compacted checkpoint topic (default kafkamsg.TopicCheckpoints).
func WithCheckpointTopic(t string) Option { return func(c *config) { c.checkpointTopic = t } }

// WithTransactionalID overrides the transactional id (default: the name).
func WithTransactionalID(id string) Option { return func(c *config) { c.transactionalID = id } }

// WithPartitions sets the partition count used when Run creates the approvals topic
// (default 3).
func WithPartitions(n int32) Option { return func(c *config) { c.partitions = n } }

// WithMaxBatch bounds the approvals per transaction (default 500).
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// WithIdleCheckpoint sets how long the forwarder waits, when only non-approval events went
// by, before it commits a checkpoint-only transaction (default 1 s).
func WithIdleCheckpoint(d time.Duration) Option { return func(c *config) { c.idleCheckpoint = d } }

// WithProgress sets where the forwarder reports progress (default: nowhere): Advanced with
// the store position of each committed checkpoint, Beat about once per idle checkpoint
// interval while there is nothing to publish.
func WithProgress(p kafka.Progress) Option { return func(c *config) { c.progress = p } }

// New returns a Forwarder from store to the Kafka cluster k describes (its logger, client
// options and start-up bound apply).
func New(store Store, k kafka.Config, opts ...Option) *Forwarder {
	cfg := config{name: "paystream-forwarder", topic: kafkamsg.TopicApproved, checkpointTopic: kafkamsg.TopicCheckpoints,
		partitions: 3, maxBatch: 500, idleCheckpoint: time.Second, progress: kafka.NoProgress{}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.transactionalID == "" {
		cfg.transactionalID = cfg.name
	}
	return &Forwarder{store: store, kafka: k, log: k.Log("forwarder", cfg.name), cfg: cfg}
}

// Published returns how many approvals this Forwarder has published in committed
// transactions.
func (f *Forwarder) Published() int64 { return f.published.Load() }

// item is one followed event: its position, and its approval record when it is one.
type item struct {
	pos    eventstore.Position
	record *kgo.Record
}

// Run publishes from the last committed checkpoint until ctx ends (returns nil) or
// something fails: an error wrapping kafka.ErrFenced when another instance took over, a
// wrapped error otherwise (the caller may run it again: nothing is lost or published twice).
func (f *Forwarder) Run(ctx context.Context) error {
	cl, err := f.kafka.NewClient(
		kgo.TransactionalID(f.cfg.transactionalID),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	if err != nil {
		return fmt.Errorf("forwarder %s: kafka client: %w", f.cfg.name, err)
	}
	defer func() {
		_ = cl.AbortBufferedRecords(context.Background())
		_ = cl.EndTransaction(context.Background(), kgo.TryAbort)
		cl.Close()
	}()
	from, err := f.start(ctx, cl)
	if err != nil {
		return f.stopped(ctx, err)
	}
	f.cfg.progress.Advanced(uint64(from))
	f.log.Info("forwarder started", "checkpoint", from, "topic", f.cfg.topic)

	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	items := make(chan item, 4*f.cfg.maxBatch)
	followDone := make(chan error, 1)
	go func() {
		payments := followed{}
		followDone <- f.store.Follow(fctx, from, aggregate.StreamPrefix, func(ctx context.Context, e eventstore.RecordedEvent) error {
			rec, err := f.message(ctx, payments, e)
			if err != nil {
				return err
			}
			it := item{pos: e.Position, record: rec}
			select {
			case items <- it:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	err = f.publish(fctx, cl, from, items, followDone)
	cancel(err)
	return f.stopped(ctx, err)
}

// start creates the topics, fences any previous producer and reads the checkpoint, each
// step bounded by the start-up timeout.
func (f *Forwarder) start(ctx context.Context, cl *kgo.Client) (eventstore.Position, error) {
	step := f.kafka.Startup
	if err := step(ctx, "creating topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, cl,
			kafka.Topic{Name: f.cfg.topic, Partitions: f.cfg.partitions},
			kafka.Topic{Name: f.cfg.checkpointTopic, Partitions: 1, Configs: kafka.Compacted()})
	}); err != nil {
		return 0, err
	}
	// Fence: initialising our producer id aborts whatever a previous instance left open,
	// so the checkpoint read next is final.
	if err := step(ctx, "fencing the previous producer", func(ctx context.Context) error {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			return fmt.Errorf("init producer: %w", err)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	var from eventstore.Position
	err := step(ctx, "reading the checkpoint", func(ctx context.Context) (err error) {
		from, err = f.readCheckpoint(ctx, cl)
		return err
	})
	return from, err
}

// stopped turns Run's end into its result.
func (f *Forwarder) stopped(ctx context.Context, err error) error {
	switch {
	case err == nil || ctx.Err() != nil:
		return nil
	case kafka.Fenced(err):
		f.log.Error("fenced by another forwarder; stopping", "err", err)
		return fmt.Errorf("forwarder %s: %w: %v", f.cfg.name, kafka.ErrFenced, err)
	default:
		return fmt.Errorf("forwarder %s: %w", f.cfg.name, err)
	}
}

// publish commits batches of items until ctx ends or something fails.
func (f *Forwarder) publish(ctx context.Context, cl *kgo.Client, committed eventstore.Position, items <-chan item, followDone <-chan error) error {
	idle := time.NewTimer(f.cfg.idleCheckpoint)
	defer idle.Stop()
	var batch []*kgo.Record
	pending := committed
	for {
		// Wait for at least one item (or the idle checkpoint), then take what else is queued.
		select {
		case <-ctx.Done():
			return nil
		case err := <-followDone:
			return fmt.Errorf("follow: %w", err)
		case it := <-items:
			pending, batch = f.take(it, pending, batch)
		case <-idle.C:
			if pending > committed {
				if err := f.commit(ctx, cl, nil, pending); err != nil {
					return err
				}
				committed = pending
				f.cfg.progress.Advanced(uint64(committed))
			} else {
				f.cfg.progress.Beat()
			}
			idle.Reset(f.cfg.idleCheckpoint)
			continue
		}
	drain:
		for len(batch) < f.cfg.maxBatch {
			select {
			case it := <-items:
				pending, batch = f.take(it, pending, batch)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			continue // only non-approvals: the idle timer will checkpoint them
		}
		if err := f.commit(ctx, cl, batch, pending); err != nil {
			return err
		}
		committed, batch = pending, batch[:0]
		f.cfg.progress.Advanced(uint64(committed))
		idle.Reset(f.cfg.idleCheckpoint)
	}
}

func (f *Forwarder) take(it item, pending eventstore.Position, batch []*kgo.Record) (eventstore.Position, []*kgo.Record) {
	if it.record != nil {
		batch = append(batch, it.record)
	}
	return max(pending, it.pos), batch
}

// checkpoint is the value of a checkpoint record.
type checkpoint struct {
	Forwarder string    `json:"forwarder"`
	Position  uint64    `json:"position"`
	At        time.Time `json:"at"`
}

// commit publishes batch and the checkpoint pos in one transaction.
func (f *Forwarder) commit(ctx context.Context, cl *kgo.Client, batch []*kgo.Record, pos eventstore.Position) error {
	value, err := json.Marshal(checkpoint{Forwarder: f.cfg.name, Position: uint64(pos), At: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	recs := append(batch[:len(batch):len(batch)], &kgo.Record{Topic: f.cfg.checkpointTopic, Key: []byte(f.cfg.name), Value: value})
	var produceErr error
	for _, res := range cl.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			produceErr = fmt.Errorf("produce to %s: %w", res.Record.Topic, res.Err)
			break
		}
	}
	if produceErr != nil {
		_ = cl.AbortBufferedRecords(context.WithoutCancel(ctx))
		if err := cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort); err != nil {
			return fmt.Errorf("abort after %v: %w", produceErr, err)
		}
		return produceErr
	}
	if err := cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryCommit); err != nil {
		return fmt.Errorf("commit transaction at position %d: %w", pos, err)
	}
	f.published.Add(int64(len(batch)))
	f.log.Debug("committed", "approvals", len(batch), "checkpoint", pos)
	return nil
}

// readCheckpoint returns the last committed checkpoint of this forwarder (0 when none).
// It reads the checkpoint partition up to its last stable offset by position
// (kafka.ReadCommitted), never by waiting to see the last record: after a broker crash
// that record may be an aborted one that read_committed never delivers.
func (f *Forwarder) readCheckpoint(ctx context.Context, cl *kgo.Client) (eventstore.Position, error) {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, f.cfg.checkpointTopic)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: list start offsets: %w", err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, f.cfg.checkpointTopic)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: list committed offsets: %w", err)
	}
	start, _ := starts.Lookup(f.cfg.checkpointTopic, 0)
	end, _ := ends.Lookup(f.cfg.checkpointTopic, 0)
	if start.Err != nil || end.Err != nil {
		return 0, fmt.Errorf("read checkpoint: offsets of %s: %w", f.cfg.checkpointTopic, errors.Join(start.Err, end.Err))
	}
	var pos eventstore.Position
	err = kafka.ReadCommitted(ctx, cl, f.cfg.checkpointTopic, 0, start.Offset, end.Offset, func(r *kgo.Record) {
		if string(r.Key) != f.cfg.name {
			return
		}
		var c checkpoint
		if err := json.Unmarshal(r.Value, &c); err == nil {
			pos = eventstore.Position(c.Position)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	return pos, nil
}

// forwarded are the event types that may give a message: PspApproved and a resolution as
// SUCCESS (an approval), a refund the PSP made (ours approved or resolved as SUCCESS, or
// one made at the PSP), an allocation of an unallocated refund, and a deposit the PSP
// withdrew.
var forwarded = map[string]bool{
	aggregate.NamePspApproved: true, aggregate.NameManuallyResolved: true,
	aggregate.NameRefundApproved: true, aggregate.NameRefundManuallyResolved: true,
	aggregate.NameExternalRefundRecorded: true, aggregate.NameRefundAllocated: true,
	aggregate.NameDepositWithdrawn: true,
}

// payment is a payment's stream folded up to revision.
type payment struct {
	revision   eventstore.Revision
	state      aggregate.State
	approvalID string // the event the payment's approval was published for
}

// with is p after r, the event at its next revision, and r decoded.
func (p payment) with(r eventstore.RecordedEvent) (payment, aggregate.Event, error) {
	st, ev, err := aggregate.EvolveStored(p.state, r.Type, r.Data)
	if err != nil {
		return p, nil, fmt.Errorf("decode %s@%d: %w", r.Stream, r.Revision, err)
	}
	p.state, p.revision = st, r.Revision
	switch ev := ev.(type) {
	case aggregate.PspApproved:
		p.approvalID = r.ID.String()
	case aggregate.ManuallyResolved:
		if ev.Resolution == aggregate.StatusSuccess {
			p.approvalID = r.ID.String()
		}
	}
	return p, ev, nil
}

// followed are the payments one Run follows, by stream, each folded up to the last event
// delivered, so that a message is built from the events Follow delivered rather than from
// a read of the stream. A payment is held from its first event until it gives a message
// (its approval, usually): what follows is rare to give another (a refund), so its events
// are not decoded, and the stream is read should one come. So is the stream of a payment
// whose first events came before the checkpoint, or that was forgotten. Used by Run's
// Follow handler alone.
type followed map[string]payment

// maxFollowed bounds followed; for each payment over it one goes, at random (it is read
// again should it give a message).
const maxFollowed = 10_000

func (m followed) keep(stream string, p payment) {
	if _, ok := m[stream]; !ok && len(m) >= maxFollowed {
		for other := range m {
			delete(m, other)
			break
		}
	}
	m[stream] = p
}

// message folds e into its payment and builds the record it gives (nil, nil when it gives
// none: not a forwarded event, or a resolution as FAILURE). Approvals are
// payment.approved.v1; refunds payment.refunded.v1, allocations payment.refund-allocated.v1
// and withdrawn deposits payment.deposit-withdrawn.v1, on the same topic with the same key,
// so they never overtake the approval they take money back from (nor the next deposit's
// approval a withdrawal).
func (f *Forwarder) message(ctx context.Context, payments followed, e eventstore.RecordedEvent) (*kgo.Record, error) {
	before, ok := payments[e.Stream]
	if !ok {
		before = payment{revision: eventstore.NoStream}
	}
	if before.revision != e.Revision-1 {
		if !forwarded[e.Type] {
			delete(payments, e.Stream) // behind: read it should it give a message
			return nil, nil
		}
		var err error
		if before, err = f.read(ctx, e); err != nil {
			return nil, err
		}
	}
	after, ev, err := before.with(e)
	if err != nil {
		if !forwarded[e.Type] {
			delete(payments, e.Stream) // as though never followed: its next message reads it, and fails there
			return nil, nil
		}
		return nil, err
	}
	payments.keep(e.Stream, after)
	if !forwarded[e.Type] {
		return nil, nil
	}
	st, approvalID := after.state, after.approvalID
	var (
		schema string
		value  []byte
	)
	switch ev := ev.(type) {
	case aggregate.PspApproved:
		schema, value, err = f.approved(e, st, ev)
	case aggregate.ManuallyResolved:
		if ev.Resolution != aggregate.StatusSuccess {
			return nil, nil
		}
		schema, value, err = f.approved(e, st, aggregate.PspApproved{PaymentKey: before.state.PaymentKey,
			TotalAmount: before.state.ConfirmedAmount, ApprovedAt: ev.At})
	case aggregate.RefundApproved:
		schema, value, err = f.refunded(e, st, kafkamsg.SchemaRefunded, ev.RefundID, nil, approvalID)
	case aggregate.RefundManuallyResolved:
		if ev.Resolution != aggregate.StatusSuccess {
			return nil, nil
		}
		schema, value, err = f.refunded(e, st, kafkamsg.SchemaRefunded, ev.RefundID, nil, approvalID)
	case aggregate.ExternalRefundRecorded:
		schema, value, err = f.refunded(e, st, kafkamsg.SchemaRefunded, ev.RefundID, nil, approvalID)
	case aggregate.RefundAllocated:
		schema, value, err = f.refunded(e, st, kafkamsg.SchemaRefundAllocated, ev.RefundID, ev.Orders, approvalID)
	case aggregate.DepositWithdrawn:
		schema, value, err = f.withdrawn(e, before.state, ev, approvalID)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s of %s@%d: %w", schema, e.Stream, e.Revision, err)
	}
	delete(payments, e.Stream)
	var md struct {
		CorrelationID string `json:"correlationId"`
	}
	_ = json.Unmarshal(e.Metadata, &md) // metadata is informative here; a bad one only loses the header
	return &kgo.Record{Topic: f.cfg.topic, Key: []byte(st.OrderID), Value: value, Headers: []kgo.RecordHeader{
		{Key: kafkamsg.HeaderSchema, Value: []byte(schema)},
		{Key: kafkamsg.HeaderEventType, Value: []byte(e.Type)},
		{Key: kafkamsg.HeaderEventID, Value: []byte(e.ID.String())},
		{Key: kafkamsg.HeaderCorrelationID, Value: []byte(md.CorrelationID)},
		{Key: "source-position", Value: []byte(strconv.FormatUint(uint64(e.Position), 10))},
	}}, nil
}

// read folds e's stream up to the event before e.
func (f *Forwarder) read(ctx context.Context, e eventstore.RecordedEvent) (payment, error) {
	recorded, err := f.store.ReadStream(ctx, e.Stream)
	if err != nil {
		return payment{}, fmt.Errorf("read %s: %w", e.Stream, err)
	}
	p := payment{revision: eventstore.NoStream}
	for _, r := range recorded[:min(int(e.Revision), len(recorded))] {
		if p, _, err = p.with(r); err != nil {
			return payment{}, err
		}
	}
	return p, nil
}

// approved is the payment.approved.v1 of a payment approved as approved says.
func (f *Forwarder) approved(e eventstore.RecordedEvent, st aggregate.State, approved aggregate.PspApproved) (string, []byte, error) {
	msg := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: st.OrderID, PaymentKey: approved.PaymentKey,
		ApprovedAt: approved.ApprovedAt, TotalAmount: approved.TotalAmount, BuyerID: st.BuyerID,
		SourceEventID: e.ID.String(), SourcePosition: uint64(e.Position)}
	for _, o := range st.Orders {
		msg.Orders = append(msg.Orders, kafkamsg.ApprovedOrder{Seq: o.Seq, SellerID: o.SellerID, ProductID: o.ProductID, Amount: o.Amount})
	}
	if err := msg.Validate(); err != nil {
		return kafkamsg.SchemaApproved, nil, err
	}
	value, err := msg.Marshal()
	return kafkamsg.SchemaApproved, value, err
}

// refunded is the payment.refunded.v1 (or, for an allocation, payment.refund-allocated.v1)
// of refund id, split over orders (nil: the refund's own split; none: unallocated).
func (f *Forwarder) refunded(e eventstore.RecordedEvent, st aggregate.State, schema, id string, orders []aggregate.RefundSplit,
	approvalID string) (string, []byte, error) {
	r, ok := st.RefundByID(id)
	if !ok {
		return schema, nil, fmt.Errorf("no refund %s", id)
	}
	if orders == nil {
		orders = r.Orders
	}
	msg := kafkamsg.Refunded{Schema: schema, OrderID: st.OrderID, RefundID: r.ID, TransactionKey: r.TransactionKey,
		Amount: r.Amount, External: r.External, ApprovalID: approvalID, SourceEventID: e.ID.String(), SourcePosition: uint64(e.Position)}
	if r.CanceledAt != nil {
		msg.CanceledAt = *r.CanceledAt
	}
	sellers := map[int]string{}
	for _, o := range st.Orders {
		sellers[o.Seq] = o.SellerID
	}
	for _, sp := range orders {
		msg.Orders = append(msg.Orders, kafkamsg.RefundedOrder{Seq: sp.Seq, SellerID: sellers[sp.Seq], Amount: sp.Amount})
	}
	if err := msg.Validate(); err != nil {
		return schema, nil, err
	}
	value, err := msg.Marshal()
	return schema, value, err
}

// withdrawn is the payment.deposit-withdrawn.v1 of a deposit the PSP withdrew from the
// payment as it stood before (its orders' sellers), taking back approval approvalID.
func (f *Forwarder) withdrawn(e eventstore.RecordedEvent, before aggregate.State, w aggregate.DepositWithdrawn,
	approvalID string) (string, []byte, error) {
	msg := kafkamsg.Withdrawn{Schema: kafkamsg.SchemaDepositWithdrawn, OrderID: before.OrderID, WithdrawalID: w.WithdrawalID,
		PaymentKey: before.PaymentKey, Amount: w.Amount, WithdrawnAt: w.At, ApprovalID: approvalID,
		SourceEventID: e.ID.String(), SourcePosition: uint64(e.Position)}
	sellers := map[int]string{}
	for _, o := range before.Orders {
		sellers[o.Seq] = o.SellerID
	}
	for _, sp := range w.Orders {
		msg.Orders = append(msg.Orders, kafkamsg.RefundedOrder{Seq: sp.Seq, SellerID: sellers[sp.Seq], Amount: sp.Amount})
	}
	if err := msg.Validate(); err != nil {
		return kafkamsg.SchemaDepositWithdrawn, nil, err
	}
	value, err := msg.Marshal()
	return kafkamsg.SchemaDepositWithdrawn, value, err
}
