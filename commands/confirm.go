package commands

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
)

// ConfirmRequest is the buyer's authorised payment, as Toss's widget handed it back.
type ConfirmRequest struct {
	OrderID        string
	PaymentKey     string
	Amount         decimal.Decimal
	IdempotencyKey string
}

// Confirm executes the payment at the PSP once and records the outcome; see the package
// comment. It is two updates around the PSP call: ExecutionStarted (the claim: of many
// concurrent confirms exactly one appends it), then the outcome. It returns the payment as
// recorded: SUCCESS, FAILURE, UNKNOWN, or NOT_STARTED together with ErrPSPUnavailable.
// Errors: aggregate.ErrNotFound, aggregate.ErrExecuting (another confirm is running),
// aggregate.ErrExecutionMismatch, aggregate.ErrExpired, *aggregate.ValidationError,
// ErrIdempotencyKeyReused, ErrContention.
func (s *Service) Confirm(ctx context.Context, req ConfirmRequest, meta Meta) (Payment, error) {
	meta = meta.forCommand()
	hash := fingerprint(req.OrderID, req.PaymentKey, req.Amount.String())
	p, err := s.Load(ctx, req.OrderID)
	if err != nil {
		return Payment{}, err
	}
	// Only once the payment is known to exist: a key names a request, not a typo.
	if err := s.claimKey(ctx, req.IdempotencyKey, KeyClaimed{Operation: "confirm", OrderID: req.OrderID, RequestHash: hash}, meta); err != nil {
		return Payment{}, err
	}
	now := s.cfg.Now().UTC()
	started, err := s.update(ctx, req.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
		if req.IdempotencyKey != "" && p.ConfirmRequestKey == req.IdempotencyKey && p.ConfirmRequestHash != hash {
			return nil, ErrIdempotencyKeyReused // a key used before key claims were recorded
		}
		if (p.Status.Terminal() && !p.Expired) || p.WaitingForDeposit() {
			return nil, nil // answered as recorded: confirm is idempotent
		}
		return aggregate.Decide(p.State, aggregate.StartExecution{
			PaymentKey: req.PaymentKey, Amount: req.Amount, PspIdempotencyKey: pspIdempotencyKey(req.OrderID),
			RequestKey: req.IdempotencyKey, RequestHash: hash, ExpiredBefore: now.Add(-s.cfg.CheckoutTTL), At: now,
		})
	})
	switch {
	case err != nil:
		return Payment{}, fmt.Errorf("confirm: %w", err)
	case started.Expired:
		return Payment{}, fmt.Errorf("confirm %s: %w", req.OrderID, aggregate.ErrExpired)
	case started.cause == "" || started.Status != aggregate.StatusExecuting:
		return started.Payment, nil // recorded before, or rejected by validation without calling the PSP
	}
	// From here the PSP may charge: finish even if the caller goes away.
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	begun := time.Now()
	recorded, err := s.execute(execCtx, started.Payment, meta, started.cause)
	outcome := string(recorded.Status)
	if recorded.OrderID == "" {
		outcome = "ERROR"
	}
	s.cfg.Observer.Confirmed(outcome, time.Since(begun))
	return recorded, err
}

// execute calls the PSP for an EXECUTING payment and records the verdict.
func (s *Service) execute(ctx context.Context, p Payment, meta Meta, causation string) (Payment, error) {
	v := s.confirmAtPSP(ctx, p.State)
	recorded, err := s.record(ctx, p, v, meta, causation)
	if err != nil {
		s.log.Error("outcome not recorded; payment left EXECUTING for recovery", "order_id", p.OrderID,
			"rule", v.Rule, "status", v.Status, "err", err)
		return Payment{}, err
	}
	if recorded.Status == aggregate.StatusNotStarted {
		return recorded, fmt.Errorf("confirm %s: %s: %w", p.OrderID, v.Code, ErrPSPUnavailable)
	}
	return recorded, nil
}

// confirmAtPSP asks the PSP to confirm, retrying and settling by lookup as atPSP does.
func (s *Service) confirmAtPSP(ctx context.Context, st aggregate.State) aggregate.Verdict {
	return s.atPSP(ctx, st.OrderID, func(ctx context.Context) PSPAnswer {
		begun := time.Now()
		a := s.cfg.PSP.Confirm(ctx, executionOf(st))
		s.cfg.Observer.PSPRequested("confirm", pspOutcome(a), time.Since(begun))
		return a
	},
		func(ambiguous aggregate.Verdict) aggregate.Verdict { return s.settleByLookup(ctx, st, ambiguous) })
}

// atPSP runs one idempotent request at the PSP (a confirm or a cancel), retrying answers
// the PSP calls retryable with backoff and full jitter while the context allows, and
// settling answers only the PSP's record can tell with lookUp.
func (s *Service) atPSP(ctx context.Context, orderID string, request func(context.Context) PSPAnswer,
	lookUp func(ambiguous aggregate.Verdict) aggregate.Verdict) aggregate.Verdict {
	ambiguous := false // an earlier attempt may have executed
	for attempt := 0; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
		a := request(attemptCtx)
		cancel()
		v := a.Verdict
		if a.LookUp {
			return lookUp(v)
		}
		if v.Status == aggregate.StatusNotStarted && ambiguous {
			// A config fault now says nothing about what an earlier timed-out attempt did.
			v.Status = aggregate.StatusUnknown
		}
		if !a.Retry {
			return v
		}
		ambiguous = true
		wait := fullJitter(s.cfg.Retry.Base, s.cfg.Retry.Max, attempt)
		// An attempt needs a quarter of what one may take, or it is not worth starting.
		worthwhile := min(s.cfg.Retry.AttemptTimeout, s.cfg.ConfirmTimeout) / 4
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+worthwhile {
			return v // no time left for a meaningful attempt: recovery takes over
		}
		s.log.Warn("transient PSP answer, retrying", "order_id", orderID, "attempt", attempt+1,
			"rule", v.Rule, "code", v.Code, "wait", wait)
		select {
		case <-ctx.Done():
			return v
		case <-time.After(wait):
		}
	}
}

// settleByLookup decides an answer only the PSP's record can settle: what the record
// decides, or the ambiguous answer (UNKNOWN, for recovery) when it decides nothing.
func (s *Service) settleByLookup(ctx context.Context, st aggregate.State, ambiguous aggregate.Verdict) aggregate.Verdict {
	rec := s.lookup(ctx, st)
	switch {
	case rec.Decided:
		return rec.Verdict
	case rec.Err != nil:
		ambiguous.Message += "; lookup failed: " + rec.Err.Error()
	default:
		ambiguous.Message += "; PSP status " + rec.Status
	}
	return ambiguous
}

// lookup reads the PSP's record of the payment, within one attempt's time.
func (s *Service) lookup(ctx context.Context, st aggregate.State) PSPRecord {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
	defer cancel()
	begun := time.Now()
	rec := s.cfg.PSP.Lookup(ctx, executionOf(st))
	outcome := "UNDECIDED"
	switch {
	case rec.Decided:
		outcome = string(rec.Verdict.Status)
	case rec.Err != nil:
		outcome = "ERROR"
	}
	s.cfg.Observer.PSPRequested("lookup", outcome, time.Since(begun))
	return rec
}

// record appends the verdict under its own timeout, detached from the caller, and counts
// it. An outcome recorded meanwhile by someone else (recovery, an operator) stands.
func (s *Service) record(ctx context.Context, p Payment, v aggregate.Verdict, meta Meta, causation string) (Payment, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RecordTimeout)
	defer cancel()
	v = s.sealed(v) // a virtual account's secret is recorded only as its keyed hash
	u, err := s.update(ctx, p.OrderID, &p, meta, causation, func(p Payment) ([]aggregate.Event, error) {
		if p.Status != aggregate.StatusExecuting {
			return nil, nil
		}
		return aggregate.Decide(p.State, aggregate.RecordPspOutcome{Verdict: v, At: s.cfg.Now().UTC()})
	})
	if err != nil {
		return Payment{}, fmt.Errorf("record outcome: %w", err)
	}
	if u.cause != "" {
		s.noteVerdict(v)
	}
	return u.Payment, nil
}

// noteVerdict counts a recorded verdict and raises the operator alert it carries.
func (s *Service) noteVerdict(v aggregate.Verdict) {
	s.sig.outcome(v.Status)
	if v.OperatorAlert {
		s.sig.alert(s.cfg.Now(), v.Rule+" "+v.Code)
		s.log.Error("PSP outcome needs an operator", "rule", v.Rule, "code", v.Code, "message", v.Message)
	}
}

// pspIdempotencyKey is the Idempotency-Key for every confirm of one order: stable across
// retries, restarts and recovery, so Toss executes the payment at most once.
func pspIdempotencyKey(orderID string) string { return "confirm-" + orderID }

func fullJitter(base, max time.Duration, attempt int) time.Duration {
	ceiling := max
	if attempt < 30 && base<<attempt < max {
		ceiling = base << attempt
	}
	return rand.N(ceiling + 1)
}
