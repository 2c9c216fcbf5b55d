package aggregate

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/v1"
)

// ErrUnknownEvent: a stored event name this version of the code cannot decode.
var ErrUnknownEvent = errors.New("unknown event type")

// decoder turns stored JSON into the current version of an event. An older version's entry
// decodes its own frozen shape and upcasts it, e.g.
//
//	"payment.psp-failed.v1": upcast(decodeJSON[pspFailedV1], pspFailedV1.toV2)
type decoder func(data []byte) (Event, error)

// decoders is the one map from stored name to decoder; nothing registers at run time.
var decoders = map[string]decoder{
	NameCheckoutCreated:   decodeJSON[CheckoutCreated],
	NameExecutionStarted:  decodeJSON[ExecutionStarted],
	NameConfirmRejected:   decodeJSON[ConfirmRejected],
	NamePspApproved:       decodeJSON[PspApproved],
	NamePspFailed:         decodeJSON[PspFailed],
	NamePspOutcomeUnknown: decodeJSON[PspOutcomeUnknown],
	NameExecutionAborted:  decodeJSON[ExecutionAborted],
	NameRecoveryAttempted: decodeJSON[RecoveryAttempted],
	NameEscalatedToManual: decodeJSON[EscalatedToManual],
	NameManuallyResolved:  decodeJSON[ManuallyResolved],
	NameCheckoutExpired:   decodeJSON[CheckoutExpired],
	NameLedgerUpdated:     decodeJSON[LedgerUpdated],
	NameWalletUpdated:     decodeJSON[WalletUpdated],
	NamePaymentCompleted:  decodeJSON[PaymentCompleted],

	NameRefundRequested:         decodeJSON[RefundRequested],
	NameRefundApproved:          decodeJSON[RefundApproved],
	NameRefundFailed:            decodeJSON[RefundFailed],
	NameRefundOutcomeUnknown:    decodeJSON[RefundOutcomeUnknown],
	NameRefundRecoveryAttempted: decodeJSON[RefundRecoveryAttempted],
	NameRefundEscalated:         decodeJSON[RefundEscalated],
	NameRefundManuallyResolved:  decodeJSON[RefundManuallyResolved],
	NameExternalRefundRecorded:  decodeJSON[ExternalRefundRecorded],
	NameRefundAllocated:         decodeJSON[RefundAllocated],
	NameRefundBooked:            decodeJSON[RefundBooked],

	NameDepositAwaited:       decodeJSON[DepositAwaited],
	NameDepositExpired:       decodeJSON[DepositExpired],
	NameVirtualAccountClosed: decodeJSON[VirtualAccountClosed],
	NameDepositWithdrawn:     decodeJSON[DepositWithdrawn],
	NameWithdrawalBooked:     decodeJSON[WithdrawalBooked],
}

func decodeJSON[E Event](data []byte) (Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// Encode returns the event's stored name and JSON.
func Encode(e Event) (name string, data []byte, err error) {
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s: %w", e.EventName(), err)
	}
	return e.EventName(), data, nil
}

// Decode reads a stored event, upcasting older versions. Unknown names fail with
// ErrUnknownEvent.
func Decode(name string, data []byte) (Event, error) {
	d, ok := decoders[name]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", name, ErrUnknownEvent)
	}
	e, err := d(data)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return e, nil
}

// EventNames lists every name Decode accepts (current and older versions).
func EventNames() []string {
	names := make([]string, 0, len(decoders))
	for n := range decoders {
		names = append(names, n)
	}
	return names
}

// EvolveStored decodes one stored event (upcasting older versions) and applies it to s: the
// one step with which the command side and every follower fold a recorded stream. It
// returns the decoded event too, for followers that record what changed. The latest events'
// decodes are shared by every caller in the process (shared.go): the event is read-only.
func EvolveStored(s State, name string, data []byte) (State, Event, error) {
	e, err := sharedDecodes.get(name, data)
	if err != nil {
		return s, nil, err
	}
	return Evolve(s, e), e, nil
}
