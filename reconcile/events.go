package reconcile

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Stored names of the reconciliation events (frozen; golden files in testdata/events).
const (
	NameRunStarted         = "reconciliation.run-started.v1"
	NameMismatchFound      = "reconciliation.mismatch-found.v1"
	NameMismatchFixed      = "reconciliation.mismatch-fixed.v1"
	NameSettlementRecorded = "reconciliation.settlement-recorded.v1"
	NameRunCompleted       = "reconciliation.run-completed.v1"
	NameRunListed          = "reconciliation.run-listed.v1"
)

// StreamPrefix starts the name of every reconciliation stream: a run's,
// StreamPrefix + period + "-" + run, and the index of runs, IndexStream. The payment
// followers do not follow them.
const (
	StreamPrefix = "reconciliation-"
	IndexStream  = StreamPrefix + "runs"
)

// ErrUnknownEvent: a stored name this package does not decode.
var ErrUnknownEvent = errors.New("unknown reconciliation event")

// Event is one of the events of a run's stream, or of the index of runs.
type Event interface{ eventName() string }

// RunStarted claims run Run of a period: the first event of the run's stream.
type RunStarted struct {
	RunID     string    `json:"runId"`
	Period    Period    `json:"period"`
	Run       int       `json:"run"`
	Actor     string    `json:"actor"`
	StartedAt time.Time `json:"startedAt"`
}

// MismatchFound is one disagreement between Toss's records and ours, classified. ID is the
// same in every run that finds the same disagreement; FirstFoundIn is the run that found
// it first (this run's id when it is new).
type MismatchFound struct {
	ID             string           `json:"mismatchId"`
	Kind           Kind             `json:"kind"`
	Class          Class            `json:"class"`
	OrderID        string           `json:"orderId"`
	PaymentKey     string           `json:"paymentKey,omitempty"`
	TransactionKey string           `json:"transactionKey,omitempty"`
	TossAmount     *decimal.Decimal `json:"tossAmount,omitempty"`
	OurAmount      *decimal.Decimal `json:"ourAmount,omitempty"`
	TossStatus     string           `json:"tossStatus,omitempty"`
	OurStatus      string           `json:"ourStatus,omitempty"`
	Detail         string           `json:"detail"`
	FirstFoundIn   string           `json:"firstFoundIn"`
}

// MismatchFixed records what the reconciler did about an auto-fixable mismatch: Command is
// the service command it ran, as a person would (RecordExternalRefunds, Recover,
// Reconcile); Fixed says whether the payment now agrees with Toss, Outcome what the command
// answered.
type MismatchFixed struct {
	ID      string    `json:"mismatchId"`
	OrderID string    `json:"orderId"`
	Command string    `json:"command"`
	Fixed   bool      `json:"fixed"`
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
}

// SettlementRecorded is Toss's settlement of one transaction of a payment, as Toss reported
// it: signed amounts (a cancel's are negative), Fee the fees' supply amount, VAT the VAT
// on them, PayOut what Toss pays out on PaidOutDate.
type SettlementRecorded struct {
	OrderID        string          `json:"orderId"`
	PaymentKey     string          `json:"paymentKey"`
	TransactionKey string          `json:"transactionKey"`
	Method         string          `json:"method"`
	Amount         decimal.Decimal `json:"amount"`
	Fee            decimal.Decimal `json:"fee"`
	VAT            decimal.Decimal `json:"vat"`
	InterestFee    decimal.Decimal `json:"interestFee"`
	PayOut         decimal.Decimal `json:"payOut"`
	SoldDate       string          `json:"soldDate"`
	PaidOutDate    string          `json:"paidOutDate"`
	Cancel         bool            `json:"cancel"`
}

// RunCompleted closes a run with its counts and totals. Totals tie out when what we
// recorded (approvals net of refunds in the period) equals what Toss settled, and Toss's
// settlement figures add up (payouts + fees + VAT = settled amount).
type RunCompleted struct {
	RunID        string        `json:"runId"`
	Transactions int           `json:"transactions"`
	Payments     int           `json:"payments"`
	Matched      int           `json:"matched"`
	Settlements  int           `json:"settlements"`
	ByClass      map[Class]int `json:"byClass"`
	New          int           `json:"new"`
	Fixed        int           `json:"fixed"`
	Totals       Totals        `json:"totals"`
	TiesOut      bool          `json:"tiesOut"`
	Failed       string        `json:"failed,omitempty"` // why the run could not finish
	FinishedAt   time.Time     `json:"finishedAt"`
}

// Totals are a run's sums, KRW.
type Totals struct {
	Approved decimal.Decimal `json:"approved"` // our approvals in the period
	Refunded decimal.Decimal `json:"refunded"` // our refunds in the period
	Settled  decimal.Decimal `json:"settled"`  // Toss's settled amounts (approvals − cancels)
	Fees     decimal.Decimal `json:"fees"`
	VAT      decimal.Decimal `json:"vat"`
	PayOut   decimal.Decimal `json:"payOut"`
}

// RunListed indexes a finished run in the stream of all runs.
type RunListed struct {
	RunID  string    `json:"runId"`
	Period Period    `json:"period"`
	Run    int       `json:"run"`
	Stream string    `json:"stream"`
	At     time.Time `json:"at"`
}

func (RunStarted) eventName() string         { return NameRunStarted }
func (MismatchFound) eventName() string      { return NameMismatchFound }
func (MismatchFixed) eventName() string      { return NameMismatchFixed }
func (SettlementRecorded) eventName() string { return NameSettlementRecorded }
func (RunCompleted) eventName() string       { return NameRunCompleted }
func (RunListed) eventName() string          { return NameRunListed }

// decoders is the one map from stored name to decoder.
var decoders = map[string]func([]byte) (Event, error){
	NameRunStarted:         decodeAs[RunStarted],
	NameMismatchFound:      decodeAs[MismatchFound],
	NameMismatchFixed:      decodeAs[MismatchFixed],
	NameSettlementRecorded: decodeAs[SettlementRecorded],
	NameRunCompleted:       decodeAs[RunCompleted],
	NameRunListed:          decodeAs[RunListed],
}

func decodeAs[E Event](data []byte) (Event, error) {
	var e E
	err := json.Unmarshal(data, &e)
	return e, err
}

// EventNames lists the stored names Decode knows.
func EventNames() []string {
	names := make([]string, 0, len(decoders))
	for n := range decoders {
		names = append(names, n)
	}
	return names
}

// Decode reads a stored event. Errors: ErrUnknownEvent, or the JSON's.
func Decode(name string, data []byte) (Event, error) {
	dec, ok := decoders[name]
	if !ok {
		return nil, fmt.Errorf("reconciliation event %q: %w", name, ErrUnknownEvent)
	}
	e, err := dec(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return e, nil
}

// Encode writes an event as stored: its name and JSON.
func Encode(e Event) (string, []byte, error) {
	data, err := json.Marshal(e)
	return e.eventName(), data, err
}
