package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/paystream/paystream/books"
)

// books prints the tie-out of the payment streams against the ledger and the wallets
// (GET /admin/v1/books): per seller approved − refunded − withdrawn (deposit errors) beside the ledger's and the wallet's
// balances, the unallocated refunds, the total. It fails (exit 1) when a line differs.
func (c client) books(ctx context.Context, stdout io.Writer) error {
	var r books.Report
	if err := c.getJSON(ctx, "/admin/v1/books", &r); err != nil {
		return fmt.Errorf("books: %w", err)
	}
	mark := func(diff bool) string {
		if diff {
			return "DIFFERENT"
		}
		return ""
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SELLER\tAPPROVED\tREFUNDED\tWITHDRAWN\tEXPECTED\tLEDGER\tWALLET\t")
	for _, s := range r.Sellers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.SellerID, s.Approved, s.Refunded, s.Withdrawn, s.Expected, s.Ledger, s.Wallet, mark(s.Difference))
	}
	t := r.Total
	fmt.Fprintf(tw, "total\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Approved, t.Refunded, t.Withdrawn, t.Expected, t.Ledger, t.Wallet, mark(t.Difference))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "unallocated refunds: streams %s, ledger %s", r.Unallocated.Streams, r.Unallocated.Ledger)
	if r.Unallocated.Difference {
		fmt.Fprint(stdout, " DIFFERENT")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "streams read up to position %d\n", r.Position)
	if r.Differences > 0 {
		return fmt.Errorf("books: %d line(s) differ", r.Differences)
	}
	fmt.Fprintln(stdout, "the books tie out")
	return nil
}
