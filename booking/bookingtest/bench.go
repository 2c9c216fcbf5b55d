package bookingtest

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafkamsg"
)

// Benchmark books b.N payments through the Booker booker makes of the store open returns
// (a ledger.Ledger, a wallet.Wallet): each an
// approval of two orders (sellers among eight, message ids UUIDs as paymentd's event ids
// are), every fifth also a refund of part of its first order. ns/op is per payment. The
// heap the store keeps is what a GC frees when close has closed it and it is dropped:
// heap-B/payment (HeapInuse) per payment, store-MB (HeapAlloc) in all.
func Benchmark[S any](b *testing.B, open func() S, booker func(S) booking.Booker, close func(S) error) {
	ctx := context.Background()
	store := open()
	l := booker(store)
	b.ResetTimer()
	for i := range b.N {
		if err := book(ctx, l, i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	if err := close(store); err != nil {
		b.Fatal(err)
	}
	runtime.KeepAlive(l)
	l = nil
	var zero S
	store = zero
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapInuse)-int64(without.HeapInuse))/float64(b.N), "heap-B/payment")
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/1e6, "store-MB")
}

// book books the i-th payment of Benchmark.
func book(ctx context.Context, l booking.Booker, i int) error {
	approval := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "approval/%d", i)).String()
	orderID := fmt.Sprintf("order_%020d", i)
	a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: orderID, SourceEventID: approval,
		TotalAmount: decimal.NewFromInt(43000), Orders: []kafkamsg.ApprovedOrder{
			{Seq: 1, SellerID: fmt.Sprintf("seller-%d", i%7), Amount: decimal.NewFromInt(35000)},
			{Seq: 2, SellerID: "seller-9", Amount: decimal.NewFromInt(8000)},
		}}
	if _, err := l.Book(ctx, a); err != nil {
		return err
	}
	if i%5 != 0 {
		return nil
	}
	refund := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "refund/%d", i)).String()
	_, err := l.BookRefund(ctx, kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: orderID, RefundID: orderID + "-1",
		Amount: decimal.NewFromInt(5000), ApprovalID: approval, SourceEventID: refund,
		Orders: []kafkamsg.RefundedOrder{{Seq: 1, SellerID: a.Orders[0].SellerID, Amount: decimal.NewFromInt(5000)}}})
	return err
}
