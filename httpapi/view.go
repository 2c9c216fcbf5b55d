package httpapi

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// paymentView is a payment as the API returns it: the PaymentEvent and its PaymentOrders.
type paymentView struct {
	OrderID       string             `json:"orderId"`
	OrderName     string             `json:"orderName"`
	BuyerID       string             `json:"buyerId"`
	Status        aggregate.Status   `json:"status"`
	TotalAmount   decimal.Decimal    `json:"totalAmount"`
	PaymentKey    string             `json:"paymentKey,omitempty"`
	Method        string             `json:"method,omitempty"`
	ApprovedAt    *time.Time         `json:"approvedAt,omitempty"`
	Outcome       *aggregate.Outcome `json:"outcome,omitempty"`
	OperatorAlert bool               `json:"operatorAlert,omitempty"`
	IsPaymentDone bool               `json:"isPaymentDone"`
	FailedCount   int                `json:"failedCount"`
	Escalated     bool               `json:"escalated,omitempty"`
	CreatedAt     time.Time          `json:"createdAt"`
	UpdatedAt     time.Time          `json:"updatedAt"`
	Revision      int64              `json:"revision"`
	Orders        []orderView        `json:"orders"`
}

type orderView struct {
	Seq           int              `json:"seq"`
	ProductID     string           `json:"productId"`
	SellerID      string           `json:"sellerId"`
	Quantity      int64            `json:"quantity"`
	UnitPrice     decimal.Decimal  `json:"unitPrice"`
	Amount        decimal.Decimal  `json:"amount"`
	Status        aggregate.Status `json:"status"`
	LedgerUpdated bool             `json:"ledgerUpdated"`
	WalletUpdated bool             `json:"walletUpdated"`
}

func viewOf(p commands.Payment) paymentView {
	v := paymentView{OrderID: p.OrderID, OrderName: p.OrderName, BuyerID: p.BuyerID, Status: p.Status,
		TotalAmount: p.TotalAmount, PaymentKey: p.PaymentKey, Method: p.Method, ApprovedAt: p.ApprovedAt,
		Outcome: p.Outcome, OperatorAlert: p.OperatorAlert, IsPaymentDone: p.IsPaymentDone, FailedCount: p.FailedCount,
		Escalated: p.Escalated, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Revision: int64(p.Revision), Orders: make([]orderView, len(p.Orders))}
	for i, o := range p.Orders {
		v.Orders[i] = orderView{Seq: o.Seq, ProductID: o.ProductID, SellerID: o.SellerID, Quantity: o.Quantity,
			UnitPrice: o.UnitPrice, Amount: o.Amount, Status: o.Status, LedgerUpdated: o.LedgerUpdated, WalletUpdated: o.WalletUpdated}
	}
	return v
}
