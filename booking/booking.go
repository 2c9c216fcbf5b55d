package booking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
)

// Booker books approvals and refunds in the subscriber's storage, idempotently by message
// id: booked is false for a message booked before. kafkamsg.ErrMalformed errors park the
// record; any other error aborts the transaction and the record is consumed again.
// BookRefund gets payment.refunded.v1 and payment.refund-allocated.v1 messages,
// BookWithdrawal payment.deposit-withdrawn.v1.
type Booker interface {
	Book(ctx context.Context, a kafkamsg.Approved) (booked bool, err error)
	BookRefund(ctx context.Context, r kafkamsg.Refunded) (booked bool, err error)
	BookWithdrawal(ctx context.Context, w kafkamsg.Withdrawn) (booked bool, err error)
}

// beatInterval bounds how long a poll waits for records, so an idle consumer still beats.
const beatInterval = time.Second

// abortPause is how long a consumer waits after aborting a transaction (a Booker failed)
// before it consumes the records again.
const abortPause = 100 * time.Millisecond

// Consumer feeds one Booker from Kafka. Run it once; it is not safe to call Run twice
// concurrently.
type Consumer struct {
	name   string
	kafka  kafka.Config
	log    *slog.Logger
	book   Booker
	schema string
	cfg    config
}

type config struct {
	approvedTopic, completionTopic, dlqTopic string
	group, transactionalID                   string
	partitions                               int32
	maxPoll                                  int
	progress                                 kafka.Progress
}

// Option configures a Consumer.
type Option func(*config)

// WithApprovedTopic sets the topic consumed (default kafkamsg.TopicApproved).
func WithApprovedTopic(t string) Option { return func(c *config) { c.approvedTopic = t } }

// WithCompletionTopic sets the topic completions go to (default: by schema,
// kafkamsg.TopicLedgerUpdated or kafkamsg.TopicWalletUpdated).
func WithCompletionTopic(t string) Option { return func(c *config) { c.completionTopic = t } }

// WithDLQTopic sets where malformed approvals are parked (default kafkamsg.TopicApprovedDLQ).
func WithDLQTopic(t string) Option { return func(c *config) { c.dlqTopic = t } }

// WithGroup sets the consumer group (default "paystream-<name>").
func WithGroup(g string) Option { return func(c *config) { c.group = g } }

// WithTransactionalID sets the transactional id (default "paystream-<name>"). Instances
// sharing it fence each other; give each partition-owning instance its own only if you
// know why.
func WithTransactionalID(id string) Option { return func(c *config) { c.transactionalID = id } }

// WithPartitions sets the partition count used when Run creates missing topics (default 3).
func WithPartitions(n int32) Option { return func(c *config) { c.partitions = n } }

// WithMaxPollRecords bounds the records per transaction (default 1000).
func WithMaxPollRecords(n int) Option { return func(c *config) { c.maxPoll = n } }

// WithProgress sets where the consumer reports progress (default: nowhere): Advanced with
// the number of records handled since Run started, after each transaction; Beat after each
// poll, which returns at least every beat interval when there is nothing to consume.
func WithProgress(p kafka.Progress) Option { return func(c *config) { c.progress = p } }

// New returns a Consumer named name (e.g. "ledger") of the cluster k describes that books
// into b and publishes completions of the given schema (kafkamsg.SchemaLedgerUpdated or
// SchemaWalletUpdated).
func New(k kafka.Config, name, schema string, b Booker, opts ...Option) *Consumer {
	cfg := config{approvedTopic: kafkamsg.TopicApproved, dlqTopic: kafkamsg.TopicApprovedDLQ,
		group: "paystream-" + name, transactionalID: "paystream-" + name, partitions: 3, maxPoll: 1000,
		progress: kafka.NoProgress{}}
	if schema == kafkamsg.SchemaWalletUpdated {
		cfg.completionTopic = kafkamsg.TopicWalletUpdated
	} else {
		cfg.completionTopic = kafkamsg.TopicLedgerUpdated
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Consumer{name: name, kafka: k, log: k.Log("consumer", name), book: b, schema: schema, cfg: cfg}
}

// Run consumes until ctx ends (then returns nil) or the transactional producer fails for
// good (fenced: an error wrapping kafka.ErrFenced). Transient broker errors are retried by
// the client.
func (c *Consumer) Run(ctx context.Context) error {
	sess, err := c.kafka.NewGroupTransactSession(append(kafka.GroupMember(c.cfg.group),
		kgo.TransactionalID(c.cfg.transactionalID),
		kgo.ConsumeTopics(c.cfg.approvedTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return fmt.Errorf("%s: kafka client: %w", c.name, err)
	}
	defer sess.Close()
	if err := c.kafka.Startup(ctx, "creating topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, sess.Client(),
			kafka.Topic{Name: c.cfg.approvedTopic, Partitions: c.cfg.partitions},
			kafka.Topic{Name: c.cfg.completionTopic, Partitions: c.cfg.partitions},
			kafka.Topic{Name: c.cfg.dlqTopic, Partitions: 1})
	}); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	c.log.Info("consumer started", "topic", c.cfg.approvedTopic, "group", c.cfg.group)
	var handled uint64
	for {
		pctx, cancel := context.WithTimeout(ctx, beatInterval)
		fetches := sess.PollRecords(pctx, c.cfg.maxPoll)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) { // the beat interval passed with nothing to consume
				c.log.Warn("fetch", "topic", t, "partition", p, "err", err)
			}
		})
		c.cfg.progress.Beat()
		if fetches.NumRecords() == 0 {
			continue
		}
		recs := fetches.Records()
		if err := c.transact(ctx, sess, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Fencing may surface at Begin, a produce or End, depending on when the client
			// learns of the newer producer; every one means the same.
			if kafka.Fenced(err) {
				return fmt.Errorf("%w: %w", kafka.ErrFenced, err)
			}
			return err
		}
		handled += uint64(len(recs))
		c.cfg.progress.Advanced(handled)
	}
}

// transact books recs and publishes their completions in one transaction with their
// offsets.
func (c *Consumer) transact(ctx context.Context, sess *kgo.GroupTransactSession, recs []*kgo.Record) error {
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("%s: begin transaction: %w", c.name, err)
	}
	out := make([]*kgo.Record, 0, len(recs))
	abort := false
	for _, r := range recs {
		rec, err := c.handle(ctx, r)
		if err != nil {
			c.log.Error("book failed; aborting the transaction", "offset", r.Offset, "partition", r.Partition, "err", err)
			abort = true
			break
		}
		if rec != nil {
			out = append(out, rec)
		}
	}
	var produceErr error
	if !abort && len(out) > 0 {
		for _, res := range sess.ProduceSync(ctx, out...) {
			if res.Err != nil {
				c.log.Error("produce completion; aborting the transaction", "topic", res.Record.Topic, "err", res.Err)
				abort, produceErr = true, res.Err
				break
			}
		}
	}
	committed, err := sess.End(context.WithoutCancel(ctx), kgo.TransactionEndTry(!abort))
	if err != nil {
		return fmt.Errorf("%s: end transaction: %w", c.name, err)
	}
	if kafka.Fenced(produceErr) { // the abort may succeed, but the transactional id is another's now
		return fmt.Errorf("%s: produce completion: %w", c.name, produceErr)
	}
	if !committed && !abort {
		c.log.Info("transaction aborted (group rebalanced); records will be consumed again", "records", len(recs))
	}
	if abort {
		kafka.Sleep(ctx, abortPause) // let a transient storage fault pass before the redelivery
	}
	return nil
}

// handle books one approval or refund and returns the record to publish: its completion
// (none for a refund not allocated to orders yet), or the message parked on the DLQ when
// it is malformed.
func (c *Consumer) handle(ctx context.Context, r *kgo.Record) (*kgo.Record, error) {
	switch kafkamsg.RecordSchema(r) {
	case kafkamsg.SchemaRefunded, kafkamsg.SchemaRefundAllocated:
		return c.handleRefund(ctx, r)
	case kafkamsg.SchemaDepositWithdrawn:
		return c.handleWithdrawal(ctx, r)
	}
	a, err := kafkamsg.DecodeApproved(r.Value)
	if err == nil {
		_, err = c.book.Book(ctx, a)
	}
	if errors.Is(err, kafkamsg.ErrMalformed) {
		return c.park(r, err), nil
	}
	if err != nil {
		return nil, err
	}
	comp := kafkamsg.NewCompletion(c.schema, a)
	value, err := comp.Marshal()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: c.cfg.completionTopic, Key: []byte(a.OrderID), Value: value, Headers: []kgo.RecordHeader{
		{Key: kafkamsg.HeaderSchema, Value: []byte(c.schema)},
		{Key: kafkamsg.HeaderEventID, Value: []byte(comp.MessageID)},
	}}, nil
}

// handleRefund books a refund or an allocation. Once it is booked against the sellers (it
// names its orders) the subscriber's payment.refund-booked.v1 goes to its completion topic.
func (c *Consumer) handleRefund(ctx context.Context, r *kgo.Record) (*kgo.Record, error) {
	m, err := kafkamsg.DecodeRefunded(r.Value)
	if err == nil {
		_, err = c.book.BookRefund(ctx, m)
	}
	if errors.Is(err, kafkamsg.ErrMalformed) {
		return c.park(r, err), nil
	}
	if err != nil || !m.Allocated() {
		return nil, err
	}
	comp := kafkamsg.NewRefundBooked(c.by(), m)
	value, err := comp.Marshal()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: c.cfg.completionTopic, Key: []byte(m.OrderID), Value: value, Headers: []kgo.RecordHeader{
		{Key: kafkamsg.HeaderSchema, Value: []byte(kafkamsg.SchemaRefundBooked)},
		{Key: kafkamsg.HeaderEventID, Value: []byte(comp.MessageID)},
	}}, nil
}

// handleWithdrawal takes a withdrawn deposit back; the subscriber's
// payment.withdrawal-booked.v1 goes to its completion topic (the same partition as the
// completion of the approval it takes back, and of the next one).
func (c *Consumer) handleWithdrawal(ctx context.Context, r *kgo.Record) (*kgo.Record, error) {
	m, err := kafkamsg.DecodeWithdrawn(r.Value)
	if err == nil {
		_, err = c.book.BookWithdrawal(ctx, m)
	}
	if errors.Is(err, kafkamsg.ErrMalformed) {
		return c.park(r, err), nil
	}
	if err != nil {
		return nil, err
	}
	comp := kafkamsg.NewWithdrawalBooked(c.by(), m)
	value, err := comp.Marshal()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: c.cfg.completionTopic, Key: []byte(m.OrderID), Value: value, Headers: []kgo.RecordHeader{
		{Key: kafkamsg.HeaderSchema, Value: []byte(kafkamsg.SchemaWithdrawalBooked)},
		{Key: kafkamsg.HeaderEventID, Value: []byte(comp.MessageID)},
	}}, nil
}

// by is the subscriber's name in refund and withdrawal completions: "ledger" or "wallet".
func (c *Consumer) by() string {
	if c.schema == kafkamsg.SchemaLedgerUpdated {
		return "ledger"
	}
	return "wallet"
}

// park logs a malformed message and returns its copy for the DLQ topic.
func (c *Consumer) park(r *kgo.Record, err error) *kgo.Record {
	c.log.Error("malformed message parked", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"dlq", c.cfg.dlqTopic, "err", err)
	return &kgo.Record{Topic: c.cfg.dlqTopic, Key: r.Key, Value: r.Value, Headers: append(r.Headers[:len(r.Headers):len(r.Headers)],
		kgo.RecordHeader{Key: kafkamsg.HeaderError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: kafkamsg.HeaderSourceTopic, Value: []byte(fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))})}
}
