// Package kafkatest holds fixtures for specs of the Kafka pipeline: approved payments
// appended straight to an event store, and a read-committed reader of a whole topic.
// Nothing here is used outside tests.
package kafkatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/kafkamsg"
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
	stream := "payment-" + orderID
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

// ReadCommitted returns every committed record of topic (all partitions) that exists when
// it is called, read with isolation level read_committed, partition by partition in offset
// order (kafkamsg.ReadCommitted: it also ends on a partition whose last records a broker
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
		failed = kafkamsg.ReadCommitted(ctx, cl, topic, end.Partition, start.Offset, end.Offset, func(r *kgo.Record) {
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
