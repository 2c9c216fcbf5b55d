package commands

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/paystream/paystream/aggregate"
)

// Virtual accounts: a confirm the PSP answers WAITING_FOR_DEPOSIT records the account
// (DepositAwaited) and the payment waits. The wait ends only by what the PSP's record says,
// read by a lookup: the deposit (RecordDeposit → PspApproved, forwarded like a card's), the
// account expired at its due date (ExpireDeposit), or closed by a cancel before the deposit
// (CloseVirtualAccount). Webhooks only make paystream look sooner; the recovery worker looks
// at the due date, since the PSP sends nothing then.

// secretHashPrefix names the keyed hash stored for a PSP secret.
const secretHashPrefix = "hmac-sha256:"

// secretHash is the keyed hash of a secret the PSP handed out: what is stored of it, so that
// reading the event store or the webhook inbox does not reveal it.
func (s *Service) secretHash(secret aggregate.Secret) string {
	m := hmac.New(sha256.New, s.cfg.DepositSecretKey)
	m.Write([]byte(secret.Reveal()))
	return secretHashPrefix + hex.EncodeToString(m.Sum(nil))
}

// sameSecret compares two stored hashes in constant time.
func sameSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sealed replaces a verdict's raw deposit secret with its keyed hash on the account.
func (s *Service) sealed(v aggregate.Verdict) aggregate.Verdict {
	if v.DepositSecret == "" {
		return v
	}
	if v.VirtualAccount != nil {
		va := *v.VirtualAccount
		va.SecretHash = s.secretHash(v.DepositSecret)
		v.VirtualAccount = &va
	}
	v.DepositSecret = ""
	return v
}

// randomKey is a fresh secret-hashing key, for a Service configured without one.
func randomKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("commands: no randomness for the deposit secret key: " + err.Error())
	}
	return k
}

// DepositGrace: a payment Toss still shows waiting this long after its due date by our clock
// raises an operator alert (once per process). It is not expired while Toss shows it waiting.
const DepositGrace = time.Hour

// CheckDeposit looks at a payment waiting for its deposit once its due date has passed
// (lookup first) and records what the PSP's record says: the deposit, or the expiry. It
// returns what it did, and the due date when it is not due yet (the caller may skip the
// payment until then). Safe for concurrent use.
func (s *Service) CheckDeposit(ctx context.Context, orderID string, meta Meta) (did string, due time.Time, err error) {
	meta = meta.forCommand()
	p, err := s.Load(ctx, orderID)
	if err != nil {
		return "", time.Time{}, err
	}
	switch {
	case !p.WaitingForDeposit() || p.VirtualAccount == nil:
		return "not waiting", time.Time{}, nil
	case !p.DepositOverdue(s.cfg.Now()):
		return "not due", p.VirtualAccount.DueDate, nil
	}
	did, err = s.settleDeposit(ctx, p, meta)
	return did, p.VirtualAccount.DueDate, err
}

// settleDeposit records what the PSP's record says of a payment waiting for its deposit.
func (s *Service) settleDeposit(ctx context.Context, p Payment, meta Meta) (string, error) {
	rec := s.lookup(ctx, p.State)
	now := s.cfg.Now().UTC()
	if !rec.Decided {
		return "lookup undecided", nil
	}
	v := rec.Verdict
	var cmd aggregate.Command
	switch v.Status {
	case aggregate.StatusSuccess:
		cmd = aggregate.RecordDeposit{Verdict: v, At: now}
	case aggregate.StatusWaitingForDeposit:
		if p.VirtualAccount != nil && now.After(p.VirtualAccount.DueDate.Add(DepositGrace)) && s.firstOverdueAlert(p.OrderID) {
			s.sig.alert(now, "PSP still waits for the deposit of "+p.OrderID+" past its due date")
			s.log.Error("PSP still shows the virtual account open past its due date; not expired while it does",
				"order_id", p.OrderID, "due_date", p.VirtualAccount.DueDate)
		}
		return "still waiting", nil
	case aggregate.StatusFailure:
		if p.DepositOverdue(now) {
			cmd = aggregate.ExpireDeposit{PspStatus: rec.Status, Evidence: rec.Evidence, At: now}
		} else {
			cmd = aggregate.CloseVirtualAccount{Reason: "closed at the PSP (" + rec.Status + ")", Actor: "psp",
				PspStatus: rec.Status, Evidence: rec.Evidence, At: now}
		}
	default:
		// Money moved otherwise than the account was issued for: a person looks.
		s.sig.contradictions.Add(1)
		s.sig.alert(now, "PSP record of waiting "+p.OrderID+" contradicts its account")
		s.log.Error("PSP record contradicts the issued virtual account", "order_id", p.OrderID, "rule", v.Rule,
			"status", v.Status, "message", v.Message)
		return "contradiction alerted", nil
	}
	u, err := s.update(ctx, p.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
		if !p.WaitingForDeposit() {
			return nil, nil // recorded meanwhile (another webhook, the worker)
		}
		return aggregate.Decide(p.State, cmd)
	})
	if err != nil {
		return "", fmt.Errorf("settle deposit: %w", err)
	}
	if u.cause == "" {
		return "already recorded", nil
	}
	if v.Status == aggregate.StatusSuccess {
		s.noteVerdict(v)
		return "recorded deposit", nil
	}
	s.sig.outcome(aggregate.StatusFailure)
	return "recorded " + string(u.Status) + " (" + u.Outcome.Code + ")", nil
}

// firstOverdueAlert reports whether the overdue alert for orderID was not raised yet.
func (s *Service) firstOverdueAlert(orderID string) bool {
	_, seen := s.sig.overdueAlerted.LoadOrStore(orderID, true)
	return !seen
}

// checkDepositCallback checks a DEPOSIT_CALLBACK's secret (as its keyed hash) against the
// one recorded with the payment's account. It reports false for a mismatch, which it counts
// and alerts. A payment without a recorded secret (its confirm's answer was lost, or the PSP
// sent none) cannot be checked: the callback is then a hint like any webhook, and only the
// lookup that follows decides.
func (s *Service) checkDepositCallback(p Payment, callbackHash string) bool {
	if p.VirtualAccount == nil || p.VirtualAccount.SecretHash == "" {
		return true
	}
	if sameSecret(p.VirtualAccount.SecretHash, callbackHash) {
		return true
	}
	s.sig.forgedCallbacks.Add(1)
	s.sig.alert(s.cfg.Now(), "deposit callback with a wrong secret for "+p.OrderID)
	s.log.Error("deposit callback refused: its secret does not match the one issued with the account", "order_id", p.OrderID)
	return false
}

// closeAccount cancels a payment that waits for its deposit: the PSP is asked to cancel it
// (nothing was paid, so nothing is refunded), then its record decides, as always. Closed →
// VirtualAccountClosed; deposited meanwhile → the deposit is recorded and the cancel refused
// naming refundReceiveAccount (a refund of a deposit needs one); anything else →
// ErrPSPUnavailable, the payment left waiting.
func (s *Service) closeAccount(ctx context.Context, p Payment, req CancelRequest, meta Meta) (Payment, error) {
	if err := aggregate.CheckRequiredText("cancelReason", req.Reason, aggregate.MaxReasonLength); err != nil {
		return Payment{}, err
	}
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	attemptCtx, cancelAttempt := context.WithTimeout(execCtx, s.cfg.Retry.AttemptTimeout)
	a := s.cfg.PSP.Cancel(attemptCtx, RefundExecution{OrderID: p.OrderID, PaymentKey: p.PaymentKey, Amount: p.TotalAmount,
		Reason: req.Reason, IdempotencyKey: "close-" + p.OrderID})
	cancelAttempt()
	rec := s.lookup(execCtx, p.State)
	now := s.cfg.Now().UTC()
	switch {
	case rec.Decided && rec.Verdict.Status == aggregate.StatusFailure:
		u, err := s.update(execCtx, p.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
			if !p.WaitingForDeposit() {
				return nil, nil
			}
			return aggregate.Decide(p.State, aggregate.CloseVirtualAccount{Reason: req.Reason, Actor: meta.Actor,
				PspStatus: rec.Status, Evidence: rec.Evidence, At: now})
		})
		if err != nil {
			return Payment{}, fmt.Errorf("close virtual account: %w", err)
		}
		return u.Payment, nil
	case rec.Decided && rec.Verdict.Status == aggregate.StatusSuccess:
		if _, err := s.settleDeposit(execCtx, p, meta); err != nil {
			return Payment{}, err
		}
		return Payment{}, &aggregate.RefundError{Field: "refundReceiveAccount",
			Message: "the deposit arrived before the cancel; refunding it needs refundReceiveAccount"}
	}
	s.log.Warn("virtual account not closed at the PSP", "order_id", p.OrderID, "cancel_rule", a.Verdict.Rule,
		"cancel_code", a.Verdict.Code, "psp_status", rec.Status)
	return Payment{}, fmt.Errorf("close virtual account %s: PSP status %q: %w", p.OrderID, rec.Status, ErrPSPUnavailable)
}
