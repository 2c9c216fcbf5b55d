package completion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
)

// Recorder is what the consumer needs of the payment service (*commands.Service).
type Recorder interface {
	RecordLedgerUpdated(ctx context.Context, c commands.Completion, meta commands.Meta) (commands.Payment, error)
	RecordWalletUpdated(ctx context.Context, c commands.Completion, meta commands.Meta) (commands.Payment, error)
	RecordRefundBooked(ctx context.Context, b commands.RefundBooking, meta commands.Meta) (commands.Payment, error)
	RecordWithdrawalBooked(ctx context.Context, b commands.WithdrawalBooking, meta commands.Meta) (commands.Payment, error)
}

// beatInterval bounds how long a poll waits for records, so an idle consumer still beats.
const beatInterval = time.Second

// Parked is a message the consumer gave up on.
type Parked struct {
	Topic     string
	Partition int32
	Offset    int64
	Value     []byte
	Err       string
	At        time.Time
}

// Consumer records completions. Parked is safe for concurrent use; run one Run at a time.
type Consumer struct {
	rec   Recorder
	kafka kafka.Config
	log   *slog.Logger
	cfg   config

	mu     sync.Mutex
	parked []Parked
}

type config struct {
	topics     []string
	dlq, group string
	maxBackoff time.Duration
	progress   kafka.Progress
}

// Option configures a Consumer.
type Option func(*config)

// WithTopics sets the completion topics (default kafkamsg.TopicLedgerUpdated and
// kafkamsg.TopicWalletUpdated).
func WithTopics(topics ...string) Option { return func(c *config) { c.topics = topics } }

// WithDLQTopic sets where unusable messages are parked (default kafkamsg.TopicCompletionsDLQ).
func WithDLQTopic(t string) Option { return func(c *config) { c.dlq = t } }

// WithGroup sets the consumer group (default "paystream-completion").
func WithGroup(g string) Option { return func(c *config) { c.group = g } }

// WithMaxBackoff caps the wait between retries of a failing record (default 2 s).
func WithMaxBackoff(d time.Duration) Option { return func(c *config) { c.maxBackoff = d } }

// WithProgress sets where the consumer reports progress (default: nowhere): Advanced with
// the number of records handled since Run started, after each poll's records; Beat after
// each poll, which returns at least every beat interval when there is nothing to consume;
// Failed with each failure of a record being retried.
func WithProgress(p kafka.Progress) Option { return func(c *config) { c.progress = p } }

// New returns a Consumer that records completions from the cluster k describes through rec.
func New(rec Recorder, k kafka.Config, opts ...Option) *Consumer {
	cfg := config{topics: []string{kafkamsg.TopicLedgerUpdated, kafkamsg.TopicWalletUpdated},
		dlq: kafkamsg.TopicCompletionsDLQ, group: "paystream-completion", maxBackoff: 2 * time.Second,
		progress: kafka.NoProgress{}}
	for _, o := range opts {
		o(&cfg)
	}
	return &Consumer{rec: rec, kafka: k, log: k.Log("consumer", "completion"), cfg: cfg}
}

// Parked returns the messages parked since New, oldest first.
func (c *Consumer) Parked() []Parked {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Parked(nil), c.parked...)
}

// Run consumes until ctx ends (then returns nil) or the client fails for good.
func (c *Consumer) Run(ctx context.Context) error {
	cl, err := c.kafka.NewClient(append(kafka.GroupMember(c.cfg.group),
		kgo.ConsumeTopics(c.cfg.topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return fmt.Errorf("completion: kafka client: %w", err)
	}
	defer cl.Close()
	topics := []kafka.Topic{{Name: c.cfg.dlq, Partitions: 1}}
	for _, t := range c.cfg.topics {
		topics = append(topics, kafka.Topic{Name: t, Partitions: 3})
	}
	if err := c.kafka.Startup(ctx, "creating topics", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, cl, topics...)
	}); err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	c.log.Info("consumer started", "topics", c.cfg.topics, "group", c.cfg.group)
	var handled atomic.Uint64
	for {
		pctx, cancel := context.WithTimeout(ctx, beatInterval)
		fetches := cl.PollRecords(pctx, 2000)
		cancel()
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) { // the beat interval passed with nothing to consume
				c.log.Warn("fetch", "topic", t, "partition", p, "err", err)
			}
		})
		c.cfg.progress.Beat()
		// One payment's records in order, payments concurrently: each record is an append
		// that waits for its fsync, and concurrent appends share one (group commit). The
		// ledger's and the wallet's completions of one payment go in the same sequence, so
		// they do not contend for its stream.
		var wg sync.WaitGroup
		slots := make(chan struct{}, maxConcurrentPayments)
		for _, recs := range byPayment(fetches) {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				for _, r := range recs {
					if !c.handle(ctx, cl, r) {
						return
					}
					handled.Add(1)
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("commit offsets; the records will be recorded again (no-ops)", "err", err)
		}
		cl.AllowRebalance()
		if fetches.NumRecords() > 0 {
			c.cfg.progress.Advanced(handled.Load())
		}
	}
}

// maxConcurrentPayments bounds the payments whose completions are recorded at once.
const maxConcurrentPayments = 64

// byPayment groups the fetched records by key (the orderId), each group in fetch order
// (partition order; one payment's records of one topic are in one partition).
func byPayment(fetches kgo.Fetches) [][]*kgo.Record {
	var groups [][]*kgo.Record
	index := map[string]int{}
	fetches.EachRecord(func(r *kgo.Record) {
		i, ok := index[string(r.Key)]
		if !ok {
			i = len(groups)
			index[string(r.Key)] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	})
	return groups
}

// handle records r, retrying transient failures until ctx ends (reported as false).
func (c *Consumer) handle(ctx context.Context, cl *kgo.Client, r *kgo.Record) bool {
	backoff := 10 * time.Millisecond
	for {
		err := c.record(ctx, r)
		if err == nil {
			return true
		}
		if permanent(err) {
			c.park(ctx, cl, r, err)
			return true
		}
		c.cfg.progress.Failed(fmt.Errorf("record completion of %s: %w", r.Key, err))
		c.log.Warn("record completion; retrying", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			"order_id", string(r.Key), "err", err, "backoff", backoff)
		if !kafka.Sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, c.cfg.maxBackoff)
	}
}

func (c *Consumer) record(ctx context.Context, r *kgo.Record) error {
	switch kafkamsg.RecordSchema(r) {
	case kafkamsg.SchemaWithdrawalBooked:
		b, err := kafkamsg.DecodeWithdrawalBooked(r.Value)
		if err != nil {
			return err
		}
		_, err = c.rec.RecordWithdrawalBooked(ctx, commands.WithdrawalBooking{OrderID: b.OrderID, WithdrawalID: b.WithdrawalID,
			By: b.By, MessageID: b.MessageID}, commands.Meta{CorrelationID: b.MessageID, Actor: b.By})
		return err
	case kafkamsg.SchemaRefundBooked:
		b, err := kafkamsg.DecodeRefundBooked(r.Value)
		if err != nil {
			return err
		}
		_, err = c.rec.RecordRefundBooked(ctx, commands.RefundBooking{OrderID: b.OrderID, RefundID: b.RefundID, By: b.By,
			MessageID: b.MessageID}, commands.Meta{CorrelationID: b.MessageID, Actor: b.By})
		return err
	}
	m, err := kafkamsg.DecodeCompletion(r.Value)
	if err != nil {
		return err
	}
	comp := commands.Completion{OrderID: m.OrderID, Orders: m.Orders, MessageID: m.MessageID}
	meta := commands.Meta{CorrelationID: m.MessageID}
	switch m.Schema {
	case kafkamsg.SchemaLedgerUpdated:
		meta.Actor = "ledger"
		_, err = c.rec.RecordLedgerUpdated(ctx, comp, meta)
	default:
		meta.Actor = "wallet"
		_, err = c.rec.RecordWalletUpdated(ctx, comp, meta)
	}
	return err
}

// permanent reports whether retrying err can never help.
func permanent(err error) bool {
	return errors.Is(err, kafkamsg.ErrMalformed) || errors.Is(err, aggregate.ErrNotFound) ||
		errors.Is(err, aggregate.ErrNotApproved) || errors.Is(err, aggregate.ErrInvalid) ||
		errors.Is(err, aggregate.ErrNoSuchRefund) || errors.Is(err, aggregate.ErrNoSuchWithdrawal)
}

// park logs r, keeps it in Parked and copies it to the DLQ topic.
func (c *Consumer) park(ctx context.Context, cl *kgo.Client, r *kgo.Record, cause error) {
	c.log.Error("completion message parked", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"order_id", string(r.Key), "dlq", c.cfg.dlq, "err", cause)
	c.mu.Lock()
	c.parked = append(c.parked, Parked{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Value: append([]byte(nil), r.Value...), Err: cause.Error(), At: time.Now().UTC()})
	c.mu.Unlock()
	dlq := &kgo.Record{Topic: c.cfg.dlq, Key: r.Key, Value: r.Value, Headers: append(r.Headers[:len(r.Headers):len(r.Headers)],
		kgo.RecordHeader{Key: kafkamsg.HeaderError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: kafkamsg.HeaderSourceTopic, Value: []byte(fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))})}
	if err := cl.ProduceSync(ctx, dlq).FirstErr(); err != nil {
		c.log.Error("copy parked message to the DLQ failed; it stays in the parked list", "dlq", c.cfg.dlq, "err", err)
	}
}
