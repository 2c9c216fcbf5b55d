package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
)

// Payments is what the API needs of the application service.
type Payments interface {
	Checkout(ctx context.Context, req commands.CheckoutRequest, meta commands.Meta) (commands.Payment, error)
	Confirm(ctx context.Context, req commands.ConfirmRequest, meta commands.Meta) (commands.Payment, error)
	Load(ctx context.Context, orderID string) (commands.Payment, error)
	Events(ctx context.Context, orderID string) ([]eventstore.RecordedEvent, error)
	Resolve(ctx context.Context, r commands.Resolution, meta commands.Meta) (commands.Payment, error)
	Cancel(ctx context.Context, req commands.CancelRequest, meta commands.Meta) (commands.Payment, error)
	AllocateRefund(ctx context.Context, a commands.Allocation, meta commands.Meta) (commands.Payment, error)
	ResolveRefund(ctx context.Context, r commands.RefundResolution, meta commands.Meta) (commands.Payment, error)
}

// Options configures the handler.
type Options struct {
	Logger *slog.Logger
	// Ready reports whether the service can take traffic (nil = always ready).
	Ready func(ctx context.Context) error
	// Hints receives Toss webhooks (nil: webhooks are answered 503).
	Hints Hints
	// Signals feeds /metrics and the alerts on /readyz (nil: none).
	Signals func() commands.Signals
	// ReadModel, when set, serves GET /v1/payments and GET /v1/payments/{orderId}.
	ReadModel ReadModel
	// Written, when set, is the position of the newest event this instance appended: reads
	// from the read model wait for it (read-your-writes), bounded by a few seconds.
	Written func() eventstore.Position
	// ExecutingTimeout is recovery's (aggregate.RecoveryPolicy): how long EXECUTING lasts
	// before the attention list calls a payment stuck, unless ?stuckAfter= says otherwise.
	ExecutingTimeout time.Duration
	// Anchors serves the latest signed anchor and checks streams against it (nil: none).
	Anchors Anchors
	// Reconciliations serves the operator's reconciliation routes and its counts on
	// /metrics (nil: those routes answer 503).
	Reconciliations Reconciliations
	// Registry is what GET /metrics serves; the handler adds Signals and the read model's
	// open and escalated payments to it (nil: a registry of its own).
	Registry *prometheus.Registry
	// Books serves GET /admin/v1/books, the tie-out with the ledger and wallets (nil: 501).
	Books Books
}

type api struct {
	payments Payments
	log      *slog.Logger
	ready    func(ctx context.Context) error
	hints    Hints
	signals  func() commands.Signals

	readModel        ReadModel
	written          func() eventstore.Position
	executingTimeout time.Duration
	anchors          Anchors
	registry         *prometheus.Registry
	reconciliations  Reconciliations
}

// NewHandler returns the HTTP API. Safe for concurrent use.
func NewHandler(payments Payments, opts Options) http.Handler {
	a := &api{payments: payments, log: opts.Logger, ready: opts.Ready, hints: opts.Hints, signals: opts.Signals,
		readModel: opts.ReadModel, written: opts.Written, anchors: opts.Anchors,
		executingTimeout: aggregate.RecoveryPolicy{ExecutingTimeout: opts.ExecutingTimeout}.WithDefaults().ExecutingTimeout}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.registerMetrics(opts.Registry)
	if opts.Reconciliations != nil {
		a.reconciliations = opts.Reconciliations
		a.registry.MustRegister(reconcileCollector{r: opts.Reconciliations})
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: problemBase + "no-route", Title: "No such route", Status: http.StatusNotFound})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: problemBase + "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed})
	})
	r.Use(withRequestID, checkOrderIDVar, noteRoute)
	r.HandleFunc("/v1/checkout", a.checkout).Methods(http.MethodPost)
	r.HandleFunc("/v1/payments/confirm", a.confirm).Methods(http.MethodPost)
	r.HandleFunc("/v1/payments", a.list).Methods(http.MethodGet)
	r.HandleFunc("/v1/payments/{orderId}", a.payment).Methods(http.MethodGet)
	r.HandleFunc("/v1/payments/{orderId}/events", a.events).Methods(http.MethodGet)
	r.HandleFunc("/v1/payments/{orderId}/cancel", a.cancel).Methods(http.MethodPost)
	r.HandleFunc("/v1/webhooks/toss", a.webhook).Methods(http.MethodPost)
	r.HandleFunc("/admin/v1/payments/attention", a.attention).Methods(http.MethodGet)
	r.HandleFunc("/admin/v1/books", booksReport(opts.Books, a.log)).Methods(http.MethodGet)
	r.HandleFunc("/admin/v1/payments/{orderId}/resolve", a.resolve).Methods(http.MethodPost)
	r.HandleFunc("/admin/v1/payments/{orderId}/refunds/{refundId}/allocate", a.allocate).Methods(http.MethodPost)
	r.HandleFunc("/admin/v1/payments/{orderId}/refunds/{refundId}/resolve", a.resolveRefund).Methods(http.MethodPost)
	r.HandleFunc("/admin/v1/reconciliation/runs", a.reconcileRun).Methods(http.MethodPost)
	r.HandleFunc("/admin/v1/reconciliation/mismatches", a.reconcileMismatches).Methods(http.MethodGet)
	r.HandleFunc("/admin/v1/reconciliation/report", a.reconcileReport).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/payments/{orderId}", a.auditPayment).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/payments/{orderId}/timeline", a.timeline).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/payments/{orderId}/verify", a.verifyPayment).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/verify", a.verifyAll).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/anchors/latest", a.latestAnchor).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/export/events", a.exportEvents).Methods(http.MethodGet)
	r.HandleFunc("/audit/v1/export/payments", a.exportPayments).Methods(http.MethodGet)
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", a.readyz).Methods(http.MethodGet)
	r.HandleFunc("/metrics", a.metrics).Methods(http.MethodGet)
	r.HandleFunc("/openapi.yaml", serveOpenAPI).Methods(http.MethodGet)
	return r
}

type checkoutBody struct {
	BuyerID string          `json:"buyerId"`
	Items   []commands.Item `json:"items"`
}

func (a *api) checkout(w http.ResponseWriter, r *http.Request) {
	var body checkoutBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := checkIdempotencyKey(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := checkCheckout(body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	p, err := a.payments.Checkout(r.Context(), commands.CheckoutRequest{
		BuyerID: body.BuyerID, Items: body.Items, IdempotencyKey: r.Header.Get("Idempotency-Key"),
	}, meta(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/payments/"+p.OrderID)
	setPosition(w, p)
	writeJSON(w, http.StatusCreated, viewOf(p))
}

// checkCheckout refuses text that could not be stored or shown faithfully before anything
// is priced or recorded (the aggregate checks the rest).
func checkCheckout(body checkoutBody) error {
	if err := aggregate.CheckRequiredText("buyerId", body.BuyerID, aggregate.MaxIDLength); err != nil {
		return err
	}
	if len(body.Items) == 0 {
		return &badRequest{field: "items", msg: "at least one item is required"}
	}
	for i, it := range body.Items {
		if err := aggregate.CheckRequiredText(fmt.Sprintf("items[%d].productId", i), it.ProductID, aggregate.MaxIDLength); err != nil {
			return err
		}
	}
	return nil
}

type confirmBody struct {
	PaymentKey *string `json:"paymentKey"`
	OrderID    *string `json:"orderId"`
	Amount     *krw    `json:"amount"`
}

// checkConfirm refuses a confirm that is missing a field or carries one no payment could
// have, before anything is recorded.
func checkConfirm(body confirmBody) error {
	switch {
	case body.PaymentKey == nil || *body.PaymentKey == "":
		return &badRequest{field: "paymentKey", msg: "is required"}
	case body.OrderID == nil || *body.OrderID == "":
		return &badRequest{field: "orderId", msg: "is required"}
	case body.Amount == nil:
		return &badRequest{field: "amount", msg: "is required"}
	}
	if err := aggregate.CheckOrderID("orderId", *body.OrderID); err != nil {
		return err
	}
	return aggregate.CheckPaymentKey("paymentKey", *body.PaymentKey)
}

func (a *api) confirm(w http.ResponseWriter, r *http.Request) {
	var body confirmBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := checkIdempotencyKey(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := checkConfirm(body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	p, err := a.payments.Confirm(r.Context(), commands.ConfirmRequest{
		OrderID: *body.OrderID, PaymentKey: *body.PaymentKey, Amount: body.Amount.Decimal,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	}, meta(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	status := http.StatusOK
	if p.Status == aggregate.StatusUnknown {
		status = http.StatusAccepted // recorded as open; recovery will settle it
	}
	setPosition(w, p)
	writeJSON(w, status, viewOf(p))
}

func (a *api) payment(w http.ResponseWriter, r *http.Request) {
	if a.readModel != nil {
		a.paymentFromReadModel(w, r)
		return
	}
	p, err := a.payments.Load(r.Context(), mux.Vars(r)["orderId"])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(p))
}

// eventView is one recorded event as auditors see it.
type eventView struct {
	Revision   int64           `json:"revision"`
	Position   uint64          `json:"position"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recordedAt"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
}

func (a *api) events(w http.ResponseWriter, r *http.Request) {
	recorded, err := a.payments.Events(r.Context(), mux.Vars(r)["orderId"])
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]eventView, len(recorded))
	for i, e := range recorded {
		out[i] = eventView{Revision: int64(e.Revision), Position: uint64(e.Position), ID: e.ID.String(), Type: e.Type,
			RecordedAt: e.RecordedAt, Data: rawOrNull(e.Data), Metadata: rawOrNull(e.Metadata)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"orderId": mux.Vars(r)["orderId"], "events": out})
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// checkIdempotencyKey enforces the same bounds Toss puts on its own keys.
func checkIdempotencyKey(r *http.Request) error {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > 300 {
		return &badRequest{field: "Idempotency-Key", msg: "must be at most 300 characters"}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < ' ' || k[i] > '~' {
			return &badRequest{field: "Idempotency-Key", msg: "must be printable ASCII"}
		}
	}
	return nil
}

// setPosition tells the client the store position of the payment's last event, to pass as
// ?wait= to reads on any instance (read-your-writes).
func setPosition(w http.ResponseWriter, p commands.Payment) {
	if p.Position > 0 {
		w.Header().Set("X-Event-Position", strconv.FormatUint(uint64(p.Position), 10))
	}
}

// meta is what events a request causes record about it: its id, and who authenticated
// (the name of the API key, never a string from the body).
func meta(r *http.Request) commands.Meta {
	return commands.Meta{CorrelationID: requestID(r.Context()), Actor: actorOf(r.Context())}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

type requestIDKey struct{}

// withRequestID takes X-Request-Id from the caller (when sane) or makes one, echoes it, and
// puts it in the context: it becomes the correlation id of every event the request writes.
// A request that already has one (Protect gave it) keeps it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requestID(r.Context()) != "" {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 || checkPrintable(id) != nil {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// checkOrderIDVar answers 400 for a route's {orderId} that no payment can have (NUL,
// control characters, a megabyte of text) before any store is asked about it.
func checkOrderIDVar(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := mux.Vars(r)["orderId"]; ok {
			if err := aggregate.CheckOrderID("orderId", id); err != nil {
				writeError(w, r, slog.New(slog.DiscardHandler), err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func checkPrintable(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return &badRequest{msg: "not printable"}
		}
	}
	return nil
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
