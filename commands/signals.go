package commands

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paystream/paystream/aggregate"
)

// signals counts what operators watch. Counters are per process, since it started.
type signals struct {
	outcomes           [6]atomic.Int64 // by outcomeOrder
	recoveryAttempts   atomic.Int64
	escalations        atomic.Int64
	manualResolutions  atomic.Int64
	contradictions     atomic.Int64
	operatorAlerts     atomic.Int64
	lastAlertUnixNano  atomic.Int64
	lastAlertCondition atomic.Pointer[string]

	mu              sync.Mutex
	webhooksIgnored map[string]int64 // by event type

	// Virtual accounts and the webhook inbox.
	forgedCallbacks atomic.Int64
	lateDeposits    atomic.Int64
	withdrawals     atomic.Int64
	webhookBacklog  atomic.Int64
	webhooksStored  atomic.Int64
	overdueAlerted  sync.Map // orderId → true: the past-due alert was raised
}

func (s *signals) webhookIgnored(eventType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhooksIgnored == nil {
		s.webhooksIgnored = map[string]int64{}
	}
	s.webhooksIgnored[eventType]++
}

var outcomeOrder = [6]aggregate.Status{aggregate.StatusSuccess, aggregate.StatusFailure, aggregate.StatusUnknown,
	aggregate.StatusNotStarted, aggregate.StatusExecuting, aggregate.StatusWaitingForDeposit}

func (s *signals) outcome(st aggregate.Status) {
	for i, o := range outcomeOrder {
		if o == st {
			s.outcomes[i].Add(1)
		}
	}
}

func (s *signals) alert(now time.Time, condition string) {
	s.operatorAlerts.Add(1)
	s.lastAlertUnixNano.Store(now.UnixNano())
	s.lastAlertCondition.Store(&condition)
}

// Signals is a snapshot of the service's operator signals.
type Signals struct {
	// Outcomes counts recorded PSP outcomes by status (NOT_STARTED = aborted by a
	// configuration fault on our side).
	Outcomes          map[aggregate.Status]int64
	RecoveryAttempts  int64
	Escalations       int64
	ManualResolutions int64
	// Contradictions: Toss's record disagreed with a recorded outcome (found by webhooks).
	Contradictions int64
	// OperatorAlerts: configuration faults, mismatching approvals, escalations, contradictions.
	OperatorAlerts int64
	LastAlertAt    time.Time // zero if none
	LastAlert      string
	// WebhooksIgnored counts well-formed webhooks that named no payment to act on, by type.
	WebhooksIgnored map[string]int64
	// ForgedDepositCallbacks: deposit callbacks refused because their secret did not match.
	ForgedDepositCallbacks int64
	// LateDeposits: deposits found at the PSP after the payment was expired or closed.
	LateDeposits int64
	// DepositsWithdrawn: deposits Toss withdrew after a deposit error (DONE back to
	// WAITING_FOR_DEPOSIT), recorded or, for a refunded payment, alerted.
	DepositsWithdrawn int64
	// WebhookBacklog: webhooks persisted in the inbox and not worked off yet.
	WebhookBacklog int64
	// WebhooksStored: webhooks persisted in the inbox by this process.
	WebhooksStored int64
}

// Signals returns the current operator signals. Safe for concurrent use.
func (s *Service) Signals() Signals {
	out := Signals{Outcomes: map[aggregate.Status]int64{}, RecoveryAttempts: s.sig.recoveryAttempts.Load(),
		Escalations: s.sig.escalations.Load(), ManualResolutions: s.sig.manualResolutions.Load(),
		Contradictions: s.sig.contradictions.Load(), OperatorAlerts: s.sig.operatorAlerts.Load(),
		ForgedDepositCallbacks: s.sig.forgedCallbacks.Load(), LateDeposits: s.sig.lateDeposits.Load(),
		DepositsWithdrawn: s.sig.withdrawals.Load(),
		WebhookBacklog:    s.sig.webhookBacklog.Load(), WebhooksStored: s.sig.webhooksStored.Load()}
	for i, o := range outcomeOrder {
		out.Outcomes[o] = s.sig.outcomes[i].Load()
	}
	if ns := s.sig.lastAlertUnixNano.Load(); ns != 0 {
		out.LastAlertAt = time.Unix(0, ns).UTC()
	}
	if c := s.sig.lastAlertCondition.Load(); c != nil {
		out.LastAlert = *c
	}
	s.sig.mu.Lock()
	out.WebhooksIgnored = maps.Clone(s.sig.webhooksIgnored)
	s.sig.mu.Unlock()
	return out
}
