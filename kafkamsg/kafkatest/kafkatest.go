// Package kafkatest holds fixtures for specs of the Kafka pipeline: approved payments
// appended straight to an event store, and a read-committed reader of a whole topic.
// Nothing here is used outside tests.
package kafkatest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
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
// it is called, read with isolation level read_committed.
func ReadCommitted(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := fetches.Err(); err != nil {
			return nil, err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset >= end-1 {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}
