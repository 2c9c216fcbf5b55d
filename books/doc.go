// Package books ties the payment streams out against the reference ledger and the sellers'
// wallets: per seller, approved − refunded according to the payment streams beside what the
// ledger owes the seller (seller_payable) and what the seller's wallet holds, and any
// difference. Operators read it at GET /admin/v1/books and with `paymentctl books`.
//
// Refunds made at the PSP whose orders are not known yet (unallocated) belong to no seller:
// the streams count them, the ledger holds them in refunds_unallocated, the wallets have not
// been debited. They get a line of their own, and the total compares
//
//	Σ approved − Σ refunded  =  Σ ledger seller balances − ledger unallocated
//	                         =  Σ wallet balances − stream unallocated
//
// which, once every refund is allocated, is the invariant Σ approved − Σ refunded = Σ ledger
// seller balances = Σ wallet balances.
//
// Invariants:
//   - The figures are read, never changed: a report cannot correct anything.
//   - The ledger and wallets follow the streams through Kafka, so a report taken while
//     messages are in flight may show differences that disappear once they are booked;
//     Tally's position says how far the stream side has read.
//   - Tally's memory is bounded whatever the number of payments: running sums per seller
//     and the states of the payments written to most recently (WithRecent, DefaultRecent);
//     an event of any other payment reads its stream back and folds it up to that event.
//     Its Totals are those of folding every payment it has read, in value and printed.
//   - Tally and Books are safe for concurrent use.
package books
