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
	// BalanceAmount is what is left to refund; Cancels are the refunds, Toss's name.
	BalanceAmount  decimal.Decimal `json:"balanceAmount"`
	RefundedAmount decimal.Decimal `json:"refundedAmount"`
	Cancels        []cancelView    `json:"cancels"`
	// VirtualAccount is the account a virtual-account payment is paid into, for the shop to
	// show the buyer (Toss's names). Never its secret.
	VirtualAccount *virtualAccountView `json:"virtualAccount,omitempty"`
}

// virtualAccountView is the account the buyer deposits into, in Toss's field names.
type virtualAccountView struct {
	AccountType   string    `json:"accountType,omitempty"`
	AccountNumber string    `json:"accountNumber"`
	BankCode      string    `json:"bankCode"`
	CustomerName  string    `json:"customerName"`
	DueDate       time.Time `json:"dueDate"`
}

// cancelView is one refund as the API returns it.
type cancelView struct {
	RefundID       string                  `json:"refundId"`
	Status         aggregate.Status        `json:"status"` // EXECUTING, SUCCESS (refunded), FAILURE, UNKNOWN
	CancelAmount   decimal.Decimal         `json:"cancelAmount"`
	CancelReason   string                  `json:"cancelReason,omitempty"`
	TaxFreeAmount  decimal.Decimal         `json:"taxFreeAmount"`
	Orders         []aggregate.RefundSplit `json:"orders"` // empty: not allocated to orders yet
	TransactionKey string                  `json:"transactionKey,omitempty"`
	CanceledAt     *time.Time              `json:"canceledAt,omitempty"`
	External       bool                    `json:"external,omitempty"`
	FoundBy        string                  `json:"foundBy,omitempty"`
	Outcome        *aggregate.Outcome      `json:"outcome,omitempty"`
	Escalated      bool                    `json:"escalated,omitempty"`
	Booked         bool                    `json:"booked"`
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
	Refunded      decimal.Decimal  `json:"refundedAmount"`
}

func viewOf(p commands.Payment) paymentView {
	v := paymentView{OrderID: p.OrderID, OrderName: p.OrderName, BuyerID: p.BuyerID, Status: p.Status,
		TotalAmount: p.TotalAmount, PaymentKey: p.PaymentKey, Method: p.Method, ApprovedAt: p.ApprovedAt,
		Outcome: p.Outcome, OperatorAlert: p.OperatorAlert, IsPaymentDone: p.IsPaymentDone, FailedCount: p.FailedCount,
		Escalated: p.Escalated, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Revision: int64(p.Revision), Orders: make([]orderView, len(p.Orders))}
	for i, o := range p.Orders {
		v.Orders[i] = orderView{Seq: o.Seq, ProductID: o.ProductID, SellerID: o.SellerID, Quantity: o.Quantity,
			UnitPrice: o.UnitPrice, Amount: o.Amount, Status: o.Status, LedgerUpdated: o.LedgerUpdated, WalletUpdated: o.WalletUpdated,
			Refunded: o.Refunded}
	}
	if va := p.VirtualAccount; va != nil {
		v.VirtualAccount = &virtualAccountView{AccountType: va.AccountType, AccountNumber: va.AccountNumber, BankCode: va.BankCode,
			CustomerName: va.HolderName, DueDate: va.DueDate.UTC()} // UTC, as the read models keep it
	}
	v.BalanceAmount, v.RefundedAmount, v.Cancels = p.BalanceAmount(), p.RefundedAmount, make([]cancelView, len(p.Refunds))
	for i, r := range p.Refunds {
		orders := r.Orders
		if orders == nil {
			orders = []aggregate.RefundSplit{}
		}
		v.Cancels[i] = cancelView{RefundID: r.ID, Status: r.Status, CancelAmount: r.Amount, CancelReason: r.Reason,
			TaxFreeAmount: r.TaxFreeAmount, Orders: orders, TransactionKey: r.TransactionKey, CanceledAt: r.CanceledAt,
			External: r.External, FoundBy: r.FoundBy, Outcome: r.Outcome, Escalated: r.Escalated, Booked: r.Booked()}
	}
	return v
}
