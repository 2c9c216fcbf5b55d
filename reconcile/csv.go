package reconcile

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader is the first line of WriteCSV.
var CSVHeader = []string{"period", "run", "record", "kind", "class", "open", "order_id", "payment_key", "transaction_key",
	"toss_amount", "our_amount", "toss_status", "our_status", "fix_command", "fixed", "first_found_in", "detail",
	"fee", "vat", "pay_out", "sold_date", "paid_out_date"}

// WriteCSV writes a run's report as CSV for spreadsheets: one line per mismatch (record
// "mismatch") and per settlement (record "settlement"), amounts in KRW as plain integers.
// Errors: the writer's.
func WriteCSV(w io.Writer, rep Report) error {
	c := csv.NewWriter(w)
	if err := c.Write(CSVHeader); err != nil {
		return err
	}
	run := strconv.Itoa(rep.Run)
	for _, m := range rep.Mismatches {
		toss, ours := "", ""
		if m.TossAmount != nil {
			toss = m.TossAmount.String()
		}
		if m.OurAmount != nil {
			ours = m.OurAmount.String()
		}
		command, fixed := "", ""
		if m.Fix != nil {
			command, fixed = m.Fix.Command, strconv.FormatBool(m.Fix.Fixed)
		}
		if err := c.Write([]string{rep.Period.ID(), run, "mismatch", string(m.Kind), string(m.Class), strconv.FormatBool(m.Open()),
			m.OrderID, m.PaymentKey, m.TransactionKey, toss, ours, m.TossStatus, m.OurStatus, command, fixed, m.FirstFoundIn,
			m.Detail, "", "", "", "", ""}); err != nil {
			return err
		}
	}
	for _, s := range rep.Settlements {
		kind := "approval"
		if s.Cancel {
			kind = "cancel"
		}
		if err := c.Write([]string{rep.Period.ID(), run, "settlement", kind, "", "", s.OrderID, s.PaymentKey, s.TransactionKey,
			s.Amount.String(), "", "", "", "", "", "", "", s.Fee.Add(s.InterestFee).String(), s.VAT.String(), s.PayOut.String(),
			s.SoldDate, s.PaidOutDate}); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}
