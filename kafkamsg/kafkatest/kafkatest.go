// Package kafkatest holds fixtures for specs of the Kafka pipeline: approved payments
// appended straight to an event store, a read-committed reader of a whole topic, a crash
// image of an in-process broker's data directory, and faults the in-process broker
// injects at a transaction's commit (FenceCommit, HoldCommit) — the real means by which
// specs kill a role mid-transaction, since the roles have no test hooks. Nothing here is
// used outside tests.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/kafka"
)

// Appender is the part of an event store the fixtures write to.
type Appender interface {
	Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error)
}

// Line is one order of a fixture payment.
type Line struct {
	SellerID string
	Amount   int64
}

// AppendApproved appends CheckoutCreated, ExecutionStarted and PspApproved for a payment of
// lines to stream "payment-<orderID>" and returns its total.
func AppendApproved(ctx context.Context, store Appender, orderID string, lines ...Line) (decimal.Decimal, error) {
	now := time.Now().UTC()
	total := decimal.Zero
	co := aggregate.CheckoutCreated{OrderID: orderID, OrderName: "fixture", BuyerID: "buyer-" + orderID, At: now}
	for i, l := range lines {
		amt := decimal.NewFromInt(l.Amount)
		co.Orders = append(co.Orders, aggregate.OrderLine{ProductID: fmt.Sprintf("p%d", i+1), SellerID: l.SellerID,
			Quantity: 1, UnitPrice: amt, Amount: amt})
		total = total.Add(amt)
	}
	co.TotalAmount = total
	key := "pk_" + orderID
	events := []aggregate.Event{co,
		aggregate.ExecutionStarted{PaymentKey: key, Amount: total, PspIdempotencyKey: orderID, At: now},
		aggregate.PspApproved{PaymentKey: key, TotalAmount: total, Method: "CARD", ApprovedAt: now, Rule: "fixture", At: now},
	}
	stream := aggregate.StreamName(orderID)
	out := make([]eventstore.Event, len(events))
	md, _ := json.Marshal(map[string]any{"correlationId": "corr-" + orderID, "schemaVersion": 1})
	for i, e := range events {
		name, data, err := aggregate.Encode(e)
		if err != nil {
			return decimal.Zero, err
		}
		out[i] = eventstore.Event{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, i)), Type: name, Data: data, Metadata: md}
	}
	if _, err := store.Append(ctx, stream, eventstore.NoStream, out); err != nil {
		return decimal.Zero, fmt.Errorf("append %s: %w", stream, err)
	}
	return total, nil
}

// AppendEvents appends events to the payment stream of orderID after revision expected (e.g.
// after AppendApproved's three, revision 2).
func AppendEvents(ctx context.Context, store Appender, orderID string, expected eventstore.Revision, events ...aggregate.Event) error {
	stream := aggregate.StreamName(orderID)
	md, _ := json.Marshal(map[string]any{"correlationId": "corr-" + orderID, "schemaVersion": 1})
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		name, data, err := aggregate.Encode(e)
		if err != nil {
			return err
		}
		out[i] = eventstore.Event{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, int(expected)+1+i)),
			Type: name, Data: data, Metadata: md}
	}
	if _, err := store.Append(ctx, stream, expected, out); err != nil {
		return fmt.Errorf("append %s: %w", stream, err)
	}
	return nil
}

// ReadCommitted returns every committed record of topic (all partitions) that exists when
// it is called, read with isolation level read_committed, partition by partition in offset
// order (kafka.ReadCommitted: it also ends on a partition whose last records a broker
// crash left aborted without a marker).
func ReadCommitted(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(starts.Error(), kerr.UnknownTopicOrPartition) {
		return nil, nil // no topic yet: no records
	}
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var out []*kgo.Record
	var failed error
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, end.Partition)
		if failed = errors.Join(failed, end.Err, start.Err); failed != nil {
			return
		}
		failed = kafka.ReadCommitted(ctx, cl, topic, end.Partition, start.Offset, end.Offset, func(r *kgo.Record) {
			out = append(out, r)
		})
	})
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// CrashCopy copies the kfake data directory src to dst as a kill -9 would leave it: every
// write made so far (with kfake.SyncWrites), nothing of what Close saves. Nothing may write
// to src while it is copied; close that cluster afterwards, and open dst.
func CrashCopy(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}

// FenceCommit makes the broker meet the nth commit (EndTxn with commit, counted from 1) of
// transactional id txnID as it meets a process that died there and was restarted: before
// it handles the commit, a new producer with the same transactional id initialises, which
// aborts the open transaction; the commit then fails, the transaction no longer being
// this producer's to commit (a real broker says PRODUCER_FENCED, kfake INVALID_TXN_STATE),
// and the role's Run returns an error. The returned channel is closed once the transaction
// was aborted. Install it before the role starts.
func FenceCommit(cluster *kfake.Cluster, txnID string, nth int) <-chan struct{} {
	fenced := make(chan struct{})
	seen := 0
	cluster.ControlKey(int16(kmsg.EndTxn), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req, ok := r.(*kmsg.EndTxnRequest)
		if !ok || req.TransactionalID != txnID || !req.Commit {
			return nil, nil, false
		}
		if seen++; seen < nth {
			return nil, nil, false
		}
		cluster.DropControl()
		cluster.SleepControl(func() { // the restarted instance's InitProducerID, on its own connection
			_ = initProducer(cluster.ListenAddrs(), txnID)
		})
		close(fenced)
		return nil, nil, false // handled as usual: refused, the transaction is gone
	})
	return fenced
}

// HoldCommit makes the broker hold the nth commit (EndTxn with commit, counted from 1) of
// transactional id txnID, leaving the transaction open: held is closed once it holds it.
// The commit is never handled: when the cluster closes (Close wakes it) or release is
// called, the broker drops it with its connection — a process killed while it waited for
// its commit. Call release only after the cluster was closed, or the client's retry of the
// commit reaches the broker and commits. Install it before the role starts.
func HoldCommit(cluster *kfake.Cluster, txnID string, nth int) (held <-chan struct{}, release func()) {
	h, r := make(chan struct{}), make(chan struct{})
	seen := 0
	cluster.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		end, ok := req.(*kmsg.EndTxnRequest)
		if !ok || end.TransactionalID != txnID || !end.Commit {
			return nil, nil, false
		}
		if seen++; seen < nth {
			return nil, nil, false
		}
		close(h)
		cluster.SleepControl(func() { <-r })
		return nil, errors.New("kafkatest: commit held, then dropped"), true
	})
	var once sync.Once
	return h, func() { once.Do(func() { close(r) }) }
}

// initProducer initialises a producer with transactional id txnID, which aborts the
// transaction an earlier producer with that id left open.
func initProducer(brokers []string, txnID string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = &txnID, 60000, -1, -1
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		if !kafka.Sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}
