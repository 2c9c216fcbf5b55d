// Package reconcile matches Toss's records against paystream's payment streams, a period at
// a time, and records every run: Toss's reconciliation (거래대사, 정산대사) done the
// event-sourced way, every match and mismatch a recorded, replayable event.
//
// A run (Reconciler.Run) reads the period's transactions (GET /v1/transactions, with a
// margin either side so that a clock skew at midnight is no mismatch) and settlements (GET
// /v1/settlements by sold date) from Toss, and matches both ways, loading every payment it
// judges from its stream (commands.Service.Load; the read models only list which payments
// to look at):
//
//   - at Toss, not here: an approval or cancel whose order has no stream
//     (payment-not-here), a cancel our stream does not have (cancel-not-recorded), an
//     approval our payment has not settled yet (approval-not-settled), a cancel our open
//     refund has not settled (refund-not-settled);
//   - here, not at Toss: an approval recorded in the period that Toss does not list
//     (approval-not-at-toss), a refund recorded as refunded that Toss does not list
//     (refund-not-at-toss);
//   - different: amounts (amount-differs), Toss moving money we recorded as failed
//     (status-differs), a settlement whose amount is not what we recorded or whose
//     figures do not add up (settlement-differs), a transaction of a status or payment key
//     the reconciler does not judge (unrecognised).
//
// Each mismatch is classified: auto-fixable (the three "not recorded / not settled"
// kinds), needs-person, or unclassifiable. Auto-fixable ones are fixed through the
// commands a person would use — Service.RecordExternalRefunds (found by "reconciliation"),
// Service.Recover, or Service.Reconcile for a payment waiting for its deposit — with
// Config.Actor ("reconciler") as the actor, so the fix lands on the payment's stream as
// its normal events; the payment is then judged again and the run records whether the fix
// took.
//
// Recorded: each run has its own stream, StreamPrefix + period id + "-" + run number
// (reconciliation-20260102-20260102-1): RunStarted (the exact-revision claim of the run
// number), MismatchFound per mismatch, MismatchFixed per fix tried, SettlementRecorded per
// settlement row (Toss's fees, VAT, payout amount and date, per payment and transaction),
// and RunCompleted with counts and totals. IndexStream lists every finished run
// (RunListed). Names are versioned and frozen; golden files live in testdata/events.
//
// Invariants:
//   - Re-running a period changes nothing new: a fix is a command that records nothing
//     twice (external refunds by transaction key, recovery of a settled payment does
//     nothing); a mismatch has the same id in every run (kind and transaction key, or
//     order and refund), and one found by an earlier run keeps that run as FirstFoundIn,
//     so a re-run reports New 0. Event ids are derived from the run id, so a retried
//     append is a no-op.
//   - A mismatch is open until a later run no longer finds it; Open lists what the latest
//     run of each period left open.
//   - Totals tie out when our approvals net of refunds in the period equal Toss's settled
//     amount and Toss's payouts + fees + VAT equal it too.
//
// The ledger: booking Toss's fees (an expense) and what Toss owes until the payout date (a
// receivable) belongs to the reference ledger; the seam is Books (Config.Books): each run
// hands it the period's SettlementRecorded rows, to be booked idempotently by transaction
// key. *ledger.Ledger implements it (paymentd passes the ledger its books report on); nil
// books nothing, and RunCompleted's totals are the tie-out.
//
// Reconciler is safe for concurrent use.
package reconcile
