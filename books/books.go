package books

import (
	"context"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/wallet"
)

// Totals are the payment streams' figures: per seller, Σ approved orders (every approval
// recorded, a withdrawn one too), Σ refunds allocated to them and Σ approvals withdrawn
// (virtual-account deposit errors); the refunds not allocated to orders yet; the store
// position read up to.
type Totals struct {
	Approved, Refunded, Withdrawn map[string]decimal.Decimal
	Unallocated                   decimal.Decimal
	Position                      uint64
}

// Streams gives the payment streams' figures (*Tally).
type Streams interface {
	Totals(ctx context.Context) (Totals, error)
}

// Ledger gives the ledger's balances (*ledger.Ledger).
type Ledger interface {
	Balances(ctx context.Context) ([]ledger.Balance, error)
}

// Wallets gives the wallets' balances (*wallet.Wallet).
type Wallets interface {
	Balances(ctx context.Context) ([]wallet.Balance, error)
}

// Seller is one seller's line (or, with no SellerID, the total).
type Seller struct {
	SellerID  string          `json:"sellerId,omitempty"`
	Approved  decimal.Decimal `json:"approved"`  // Σ approved orders, from the streams
	Refunded  decimal.Decimal `json:"refunded"`  // Σ refunds from its orders, from the streams
	Withdrawn decimal.Decimal `json:"withdrawn"` // Σ approvals the PSP withdrew (deposit errors)
	Expected  decimal.Decimal `json:"expected"`  // approved − refunded − withdrawn
	Ledger    decimal.Decimal `json:"ledger"`    // what seller_payable says we owe it
	Wallet    decimal.Decimal `json:"wallet"`    // its wallet's balance
	// Difference: ledger or wallet is not expected.
	Difference bool `json:"difference"`
}

// Unallocated is the line of refunds the PSP made whose orders are not known yet.
type Unallocated struct {
	Streams    decimal.Decimal `json:"streams"` // Σ such refunds in the payment streams
	Ledger     decimal.Decimal `json:"ledger"`  // the ledger's refunds_unallocated balance
	Difference bool            `json:"difference"`
}

// Report is the tie-out.
type Report struct {
	Sellers     []Seller    `json:"sellers"`
	Unallocated Unallocated `json:"unallocated"`
	Total       Seller      `json:"total"`
	// Differences counts the lines with a difference (the total included).
	Differences int `json:"differences"`
	// Position is the event-store position the stream figures were read up to.
	Position uint64 `json:"position"`
}

// Books reports the tie-out from its three sources. Safe for concurrent use.
type Books struct {
	streams Streams
	ledger  Ledger
	wallets Wallets
}

// New returns Books over the three sources.
func New(streams Streams, l Ledger, w Wallets) *Books {
	return &Books{streams: streams, ledger: l, wallets: w}
}

// Report reads the three sources and compares them. Errors: a source's, wrapped.
func (b *Books) Report(ctx context.Context) (Report, error) {
	totals, err := b.streams.Totals(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("books: payment streams: %w", err)
	}
	balances, err := b.ledger.Balances(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("books: ledger: %w", err)
	}
	wallets, err := b.wallets.Balances(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("books: wallets: %w", err)
	}
	return Compare(totals, balances, wallets), nil
}

// Compare builds the report from the three sources' figures.
func Compare(totals Totals, balances []ledger.Balance, wallets []wallet.Balance) Report {
	lines := map[string]*Seller{}
	line := func(id string) *Seller {
		if lines[id] == nil {
			lines[id] = &Seller{SellerID: id}
		}
		return lines[id]
	}
	for id, a := range totals.Approved {
		line(id).Approved = a
	}
	for id, r := range totals.Refunded {
		line(id).Refunded = r
	}
	for id, w := range totals.Withdrawn {
		line(id).Withdrawn = w
	}
	r := Report{Unallocated: Unallocated{Streams: totals.Unallocated}, Position: totals.Position}
	for _, b := range balances {
		if id, ok := ledger.SellerOf(b.Account); ok {
			line(id).Ledger = b.Credits.Sub(b.Debits)
		} else if b.Account == ledger.AccountRefundsUnallocated {
			r.Unallocated.Ledger = b.Net()
		}
	}
	for _, w := range wallets {
		line(w.SellerID).Wallet = w.Amount
	}
	total := Seller{}
	for _, l := range lines {
		l.Expected = l.Approved.Sub(l.Refunded).Sub(l.Withdrawn)
		l.Difference = !l.Ledger.Equal(l.Expected) || !l.Wallet.Equal(l.Expected)
		total.Approved, total.Refunded = total.Approved.Add(l.Approved), total.Refunded.Add(l.Refunded)
		total.Withdrawn = total.Withdrawn.Add(l.Withdrawn)
		total.Ledger, total.Wallet = total.Ledger.Add(l.Ledger), total.Wallet.Add(l.Wallet)
		r.Sellers = append(r.Sellers, *l)
		if l.Difference {
			r.Differences++
		}
	}
	sort.Slice(r.Sellers, func(i, j int) bool { return r.Sellers[i].SellerID < r.Sellers[j].SellerID })
	r.Unallocated.Difference = !r.Unallocated.Streams.Equal(r.Unallocated.Ledger)
	if r.Unallocated.Difference {
		r.Differences++
	}
	total.Refunded = total.Refunded.Add(totals.Unallocated)
	total.Expected = total.Approved.Sub(total.Refunded).Sub(total.Withdrawn)
	total.Ledger = total.Ledger.Sub(r.Unallocated.Ledger)
	total.Wallet = total.Wallet.Sub(totals.Unallocated)
	total.Difference = !total.Ledger.Equal(total.Expected) || !total.Wallet.Equal(total.Expected)
	if total.Difference {
		r.Differences++
	}
	r.Total = total
	return r
}
