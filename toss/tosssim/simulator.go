package tosssim

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// Options configure a Simulator. The zero value is usable.
type Options struct {
	// SecretKeys are the accepted secret keys. Empty accepts any key starting with
	// "test_sk_" or "test_gsk_".
	SecretKeys []string
	// Seed seeds the fault decisions, so that a run is reproducible.
	Seed int64
	// Now is the clock for sessions, idempotency keys, timestamps and the consecutive-cancel
	// window. Default time.Now.
	Now func() time.Time
	// SessionTTL is how long an authorised payment (IN_PROGRESS) waits for its confirm
	// before it expires. Default 10 minutes, as at Toss.
	SessionTTL time.Duration
	// Faults are injected from the start; New panics if they are invalid.
	Faults Faults
	// MaxAmount is the largest amount of one payment, KRW; above it sessions and confirms
	// are refused with 400 EXCEED_MAX_AMOUNT. Toss sets it per merchant contract and
	// publishes no general figure. Default DefaultMaxAmount.
	MaxAmount int64
	// DepositWindow is how long a virtual account waits for the deposit after the confirm
	// issued it, unless the session chose otherwise. Default 7 days, as at Toss.
	DepositWindow time.Duration
	// Webhooks configure the delivery of Toss's webhooks to the merchant. Without a URL
	// nothing is sent (SetWebhookURL can set one later).
	Webhooks WebhookOptions
}

// DefaultMaxAmount is the simulated contract's limit per payment: 100,000,000 KRW (1억원),
// ten times paystream's default checkout cap, so the merchant's own cap is what a default
// run meets first.
const DefaultMaxAmount = 100_000_000

// Simulator is a stateful stand-in for the Toss Payments API, in memory (New) or in a
// database (Open). It is an http.Handler and safe for concurrent use.
type Simulator struct {
	keys       map[string]struct{} // nil: any test key
	now        func() time.Time
	sessionTTL time.Duration
	maxAmount  decimal.Decimal
	chaos      *chaos
	mux        *http.ServeMux
	depositWin time.Duration
	hooks      *webhooks

	orders *orderTable  // every orderId named, with its session, payment and request counts
	idem   *idempotency // the answers kept for Idempotency-Keys
	txs    journal      // every approval and cancel, for transactions and settlements
	disk   *diskState   // the database of a simulator made by Open; nil in memory
	gate   gate         // with a database: requests in progress, which Close waits for

	stats counters
}

var _ http.Handler = (*Simulator)(nil)

// New returns a Simulator with no sessions that keeps everything in memory. It panics if
// opts.Faults are invalid.
func New(opts Options) *Simulator {
	if err := opts.Faults.Validate(); err != nil {
		panic(fmt.Sprintf("tosssim: invalid faults: %v", err))
	}
	s := newSimulator(opts)
	s.txs, s.idem, s.orders = &memJournal{}, newIdempotency(newMemKept()), newOrderTable(nil, 0)
	return s
}

// Open returns a Simulator that keeps its payments, transactions and idempotency keys in
// a database in dir (created if absent), with the payments, transactions and keys dir
// already holds; Go memory then holds only the payments in use and a bounded number of
// recent ones. Writes are not fsync'd: after Close, opening dir again finds everything;
// after a crash of the process the last changes may be missing, each change of a payment
// whole with its transaction or not at all. The running totals (Stats) start from zero.
// Errors: the database cannot be opened (they name dir) or holds another format. It
// panics if opts.Faults are invalid. Close closes the database.
func Open(dir string, opts Options) (*Simulator, error) {
	return open(dir, opts, hotOrders/orderShards)
}

func open(dir string, opts Options, hotPerShard int) (*Simulator, error) {
	if err := opts.Faults.Validate(); err != nil {
		panic(fmt.Sprintf("tosssim: invalid faults: %v", err))
	}
	d, err := openDisk(dir)
	if err != nil {
		return nil, err
	}
	s := newSimulator(opts)
	s.disk, s.txs, s.idem, s.orders = d, d.journal, d.idem, newOrderTable(d, hotPerShard)
	return s, nil
}

// newSimulator is the Simulator of opts without its storage.
func newSimulator(opts Options) *Simulator {
	s := &Simulator{
		now:        opts.Now,
		sessionTTL: opts.SessionTTL,
		chaos:      newChaos(opts.Seed, opts.Faults),
		mux:        http.NewServeMux(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = 10 * time.Minute
	}
	s.depositWin = opts.DepositWindow
	if s.depositWin <= 0 {
		s.depositWin = defaultDepositWindow
	}
	s.hooks = newWebhooks(opts.Webhooks, s.now, s.chaos)
	s.maxAmount = decimal.NewFromInt(DefaultMaxAmount)
	if opts.MaxAmount > 0 {
		s.maxAmount = decimal.NewFromInt(opts.MaxAmount)
	}
	if len(opts.SecretKeys) > 0 {
		s.keys = make(map[string]struct{}, len(opts.SecretKeys))
		for _, k := range opts.SecretKeys {
			s.keys[k] = struct{}{}
		}
	}
	s.mux.HandleFunc("POST /v1/payments/confirm", s.handleConfirm)
	s.mux.HandleFunc("GET /v1/payments/{paymentKey}", s.handleByKey)
	s.mux.HandleFunc("GET /v1/payments/orders/{orderId}", s.handleByOrderID)
	s.mux.HandleFunc("POST /v1/payments/{paymentKey}/cancel", s.handleCancel)
	s.mux.HandleFunc("GET /v1/transactions", s.handleTransactions)
	s.mux.HandleFunc("GET /v1/settlements", s.handleSettlements)
	s.mux.HandleFunc("POST /sim/v1/sessions", s.handleCreateSession)
	s.mux.HandleFunc("POST /sim/v1/payments/{paymentKey}/console-cancel", s.handleConsoleCancel)
	s.mux.HandleFunc("POST /sim/v1/payments/{paymentKey}/deposit", s.handleDeposit)
	s.mux.HandleFunc("POST /sim/v1/payments/{paymentKey}/deposit-error", s.handleDepositError)
	s.mux.HandleFunc("PATCH /sim/v1/transactions/{transactionKey}", s.handleAlterTransaction)
	s.mux.HandleFunc("GET /sim/v1/stats", s.handleStats)
	s.mux.HandleFunc("GET /sim/v1/faults", s.handleGetFaults)
	s.mux.HandleFunc("PUT /sim/v1/faults", s.handlePutFaults)
	return s
}

// ServeHTTP implements http.Handler. After Close, a simulator with a database answers
// 503 FAILED_INTERNAL_SYSTEM_PROCESSING.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		errorAnswer(http.StatusServiceUnavailable, "FAILED_INTERNAL_SYSTEM_PROCESSING", "the simulator is closed").write(w)
		return
	}
	defer s.exit()
	s.mux.ServeHTTP(w, r)
}

// SetWebhookURL points webhook delivery at url, for events from now on; "" stops sending
// new ones. Deliveries already queued keep the URL they were made for. Safe for concurrent
// use.
func (s *Simulator) SetWebhookURL(url string) { s.hooks.setURL(url) }

// Close stops webhook delivery: queued deliveries and pending retries are abandoned and
// in-flight ones cancelled; Close returns when the delivery goroutines have ended. In
// memory the API keeps answering; events after Close are not sent. With a database (Open)
// Close then waits for the requests and calls in progress, and closes the database: later
// requests are answered 503, later calls find nothing or fail with ErrClosed. Errors: the
// database's, on closing. Safe to call more than once.
func (s *Simulator) Close() error {
	s.hooks.close()
	if s.disk == nil || !s.gate.close() {
		return nil
	}
	return s.disk.close()
}

// ErrClosed: the simulator's database is closed (Close).
var ErrClosed = errors.New("tosssim: simulator closed")

// enter admits a request or call that uses the storage; false after Close (with a
// database). A true enter is followed by exit.
func (s *Simulator) enter() bool { return s.disk == nil || s.gate.enter() }

func (s *Simulator) exit() {
	if s.disk != nil {
		s.gate.exit()
	}
}

// gate counts the requests in progress so that Close can wait for them before it closes
// the database. Atomics on the way in and out: every request passes through it.
type gate struct {
	inFlight atomic.Int64
	closed   atomic.Bool
	mu       sync.Mutex    // guards drained
	drained  chan struct{} // made by close, closed once nothing is in flight
}

func (g *gate) enter() bool {
	if g.closed.Load() {
		return false
	}
	g.inFlight.Add(1)
	if g.closed.Load() { // close may have seen nothing in flight: do not proceed
		g.exit()
		return false
	}
	return true
}

func (g *gate) exit() {
	if g.inFlight.Add(-1) == 0 && g.closed.Load() {
		g.wake()
	}
}

// close stops admitting and waits for those admitted; true for the first call only.
func (g *gate) close() bool {
	g.mu.Lock()
	if g.closed.Load() {
		g.mu.Unlock()
		return false
	}
	g.drained = make(chan struct{})
	g.closed.Store(true)
	g.mu.Unlock()
	if g.inFlight.Load() == 0 {
		g.wake()
	}
	<-g.drained
	return true
}

func (g *gate) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.drained:
	default:
		close(g.drained)
	}
}

// CreateSession plays the buyer authorising amount for orderID in the widget (CARD) and
// returns the paymentKey to confirm. It replaces an unconfirmed session of the same order
// and fails for an invalid orderId or amount, an amount outside Toss's limits
// (BELOW_MINIMUM_AMOUNT, EXCEED_MAX_AMOUNT), or an order already paid.
func (s *Simulator) CreateSession(orderID string, amount decimal.Decimal) (paymentKey string, err error) {
	return s.CreateSessionFor(SessionRequest{OrderID: orderID, Amount: amount})
}

// SessionRequest is what the buyer authorises in the widget.
type SessionRequest struct {
	OrderID string
	Amount  decimal.Decimal
	// OrderName defaults to "paystream order " + OrderID.
	OrderName string
	// Method defaults to CARD. A VIRTUAL_ACCOUNT payment needs a refund account to cancel.
	Method toss.Method
	// NotPartialCancelable makes the payment cancelable in full only (isPartialCancelable
	// false), as Toss has it for escrow orders and cash cards.
	NotPartialCancelable bool
	// Overseas marks an overseas easy-pay payment (PayPal and the like): Toss announces its
	// cancels with CANCEL_STATUS_CHANGED too, and only its cancels.
	Overseas bool
	// Virtual accounts: how long after the confirm the buyer may deposit (Toss's
	// validHours; default Options.DepositWindow, at most 30 days), the holder shown
	// (default "구매자") and the bank code (default "20", 우리은행), which is also the
	// buyer's bank in a transfer (계좌이체).
	DueIn        time.Duration
	CustomerName string
	BankCode     string
}

// CreateSessionFor is CreateSession with the method, name and cancel rules chosen. Errors as
// for CreateSession, and ErrClosed.
func (s *Simulator) CreateSessionFor(r SessionRequest) (paymentKey string, err error) {
	if !s.enter() {
		return "", ErrClosed
	}
	defer s.exit()
	sess, rerr := s.createSession(r)
	if rerr != nil {
		return "", rerr
	}
	return sess.PaymentKey, nil
}

// Approvals is how many times money was captured for orderID: 0 or 1, never more.
func (s *Simulator) Approvals(orderID string) int {
	n, _ := readOrder(s, orderID, func(o *order) int { return o.approvals })
	return n
}

// ConfirmRequests is how many confirm requests named orderID, whatever their outcome,
// idempotent repeats included.
func (s *Simulator) ConfirmRequests(orderID string) int {
	n, _ := readOrder(s, orderID, func(o *order) int64 { return o.confirmRequests })
	return int(n)
}

// CancelRequests is how many cancel requests (POST /v1/payments/{paymentKey}/cancel) named
// a paymentKey of orderID, whatever their outcome, idempotent repeats included. Console
// cancels are not requests to the API and are not counted.
func (s *Simulator) CancelRequests(orderID string) int {
	n, _ := readOrder(s, orderID, func(o *order) int64 { return o.cancelRequests })
	return int(n)
}

// readOrder is read of orderID's order under its lock, and whether the order exists
// (false, too, after Close).
func readOrder[T any](s *Simulator, orderID string, read func(*order) T) (T, bool) {
	var zero T
	if !s.enter() {
		return zero, false
	}
	defer s.exit()
	o := s.orders.lock(orderID, false)
	if o == nil {
		return zero, false
	}
	defer s.orders.unlock(o)
	return read(o), true
}

// Payment is the payment of orderID as a lookup would answer it, and whether it exists.
func (s *Simulator) Payment(orderID string) (toss.Payment, bool) {
	body, _ := readOrder(s, orderID, func(o *order) []byte {
		if o.status == "" {
			return nil
		}
		o.expireIfDue(s.now())
		return o.render(true)
	})
	if body == nil {
		return toss.Payment{}, false
	}
	var p toss.Payment
	if err := json.Unmarshal(body, &p); err != nil {
		panic(fmt.Sprintf("tosssim: rendered payment does not decode: %v", err))
	}
	return p, true
}

// SetFaults replaces the injected faults for requests arriving from now on. It panics if f
// is invalid (see Faults.Validate).
func (s *Simulator) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		panic(fmt.Sprintf("tosssim: invalid faults: %v", err))
	}
	s.chaos.set(f)
}

// Stats are running totals since the simulator started.
type Stats struct {
	ConfirmRequests        int64 `json:"confirmRequests"`
	Approvals              int64 `json:"approvals"`
	IdempotentReplays      int64 `json:"idempotentReplays"`
	IdempotencyConflicts   int64 `json:"idempotencyConflicts"`
	SessionsCreated        int64 `json:"sessionsCreated"`
	CancelRequests         int64 `json:"cancelRequests"`
	Cancels                int64 `json:"cancels"`        // executed by the API, idempotent replays not counted
	ConsoleCancels         int64 `json:"consoleCancels"` // made "in Toss's console" (/sim/v1/…/console-cancel)
	TestCodeAnswers        int64 `json:"testCodeAnswers"`
	Injected5xx            int64 `json:"injected5xx"`
	InjectedTimeouts       int64 `json:"injectedTimeouts"`
	InjectedDrops          int64 `json:"injectedDrops"`
	InjectedProviderErrors int64 `json:"injectedProviderErrors"`
	AccountsIssued         int64 `json:"accountsIssued"` // virtual accounts issued by confirms
	Deposits               int64 `json:"deposits"`
	DepositsRefused        int64 `json:"depositsRefused"` // wrong amount, past the due date, not waiting
	DepositErrors          int64 `json:"depositErrors"`   // DONE back to WAITING_FOR_DEPOSIT

	// Webhooks are the totals of webhook delivery to the merchant.
	Webhooks WebhookStats `json:"webhooks"`
}

type counters struct {
	confirmRequests, approvals, idempotentReplays, idempotencyConflicts, sessions, cancelRequests, cancels,
	consoleCancels, testCodes, injected5xx, injectedTimeouts, injectedDrops, injectedProviderErrors,
	accountsIssued, deposits, depositsRefused, depositErrors atomic.Int64
}

// Stats returns the running totals.
func (s *Simulator) Stats() Stats {
	c := &s.stats
	return Stats{
		ConfirmRequests:        c.confirmRequests.Load(),
		Approvals:              c.approvals.Load(),
		IdempotentReplays:      c.idempotentReplays.Load(),
		IdempotencyConflicts:   c.idempotencyConflicts.Load(),
		SessionsCreated:        c.sessions.Load(),
		CancelRequests:         c.cancelRequests.Load(),
		Cancels:                c.cancels.Load(),
		ConsoleCancels:         c.consoleCancels.Load(),
		TestCodeAnswers:        c.testCodes.Load(),
		Injected5xx:            c.injected5xx.Load(),
		InjectedTimeouts:       c.injectedTimeouts.Load(),
		InjectedDrops:          c.injectedDrops.Load(),
		InjectedProviderErrors: c.injectedProviderErrors.Load(),
		AccountsIssued:         c.accountsIssued.Load(),
		Deposits:               c.deposits.Load(),
		DepositsRefused:        c.depositsRefused.Load(),
		DepositErrors:          c.depositErrors.Load(),
		Webhooks:               s.hooks.stats(),
	}
}

func (s *Simulator) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		invalid("cannot read body: %v", err).write(w)
		return
	}
	var req struct {
		OrderID   string          `json:"orderId"`
		Amount    json.RawMessage `json:"amount"`
		OrderName string          `json:"orderName"`
		Method    string          `json:"method"`
		// isPartialCancelable: false makes the payment cancelable in full only.
		PartialCancelable *bool  `json:"isPartialCancelable"`
		Overseas          bool   `json:"overseas"`
		ValidHours        int    `json:"validHours"`
		CustomerName      string `json:"customerName"`
		Bank              string `json:"bank"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		invalid("body is not a session request: %v", err).write(w)
		return
	}
	amount, err := parseAmount(req.Amount)
	if err != nil {
		invalid("amount: %v", err).write(w)
		return
	}
	if req.ValidHours < 0 || req.ValidHours > int(maxDepositWindow/time.Hour) {
		invalid("validHours must be 1 to 720 (30 days)").write(w)
		return
	}
	sess, rerr := s.createSession(SessionRequest{OrderID: req.OrderID, Amount: amount, OrderName: req.OrderName,
		Method: toss.ParseMethod(req.Method), NotPartialCancelable: req.PartialCancelable != nil && !*req.PartialCancelable,
		Overseas: req.Overseas, DueIn: time.Duration(req.ValidHours) * time.Hour, CustomerName: req.CustomerName, BankCode: req.Bank})
	if rerr != nil {
		rerr.answer().write(w)
		return
	}
	answer{status: http.StatusCreated, body: mustJSON(sess)}.write(w)
}

func (s *Simulator) handleStats(w http.ResponseWriter, _ *http.Request) {
	answer{status: http.StatusOK, body: mustJSON(s.Stats())}.write(w)
}

func (s *Simulator) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	answer{status: http.StatusOK, body: mustJSON(s.chaos.get())}.write(w)
}

func (s *Simulator) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		invalid("cannot read body: %v", err).write(w)
		return
	}
	var f Faults
	if err := json.Unmarshal(body, &f); err != nil {
		invalid("body is not Faults: %v", err).write(w)
		return
	}
	if err := f.Validate(); err != nil {
		invalid("%v", err).write(w)
		return
	}
	s.chaos.set(f)
	answer{status: http.StatusOK, body: mustJSON(f)}.write(w)
}
