package toss

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

const (
	// maxIdempotencyKey is Toss's limit, in characters.
	maxIdempotencyKey = 300
	// maxBody bounds what is read from Toss; a Payment is a few KiB.
	maxBody = 1 << 20
	// defaultTimeout caps a call whose context has no earlier deadline.
	defaultTimeout = 30 * time.Second
)

// Client calls the Toss Payments API. It is safe for concurrent use.
type Client struct {
	baseURL        string
	key            SecretKey
	http           *http.Client
	acceptLanguage string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for every call. The default has a 30 s timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithAcceptLanguage sends Accept-Language on every call ("en-US" makes Toss answer English
// enum values). By default none is sent and Toss answers Korean; the Client parses both.
func WithAcceptLanguage(lang string) Option {
	return func(c *Client) { c.acceptLanguage = lang }
}

// NewClient returns a Client for the API at baseURL (https://api.tosspayments.com in
// production) authenticating with key.
func NewClient(baseURL string, key SecretKey, opts ...Option) *Client {
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		key:     key,
		http:    &http.Client{Timeout: defaultTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// String describes the client without its key, so printing one is safe.
func (c *Client) String() string { return "toss.Client(" + c.baseURL + ")" }

// ConfirmRequest asks Toss to capture a payment the buyer authorised.
type ConfirmRequest struct {
	PaymentKey, OrderID string
	Amount              decimal.Decimal
}

// CancelRequest cancels all or part of a payment. A nil Amount cancels the whole balance.
// TaxFreeAmount is the tax-free part of Amount (zero: none); RefundAccount is required by
// Toss for virtual-account payments only.
type CancelRequest struct {
	Reason        string
	Amount        *decimal.Decimal
	TaxFreeAmount decimal.Decimal
	RefundAccount *RefundAccount
}

// RefundAccount is Toss's refundReceiveAccount: where a virtual-account refund is paid.
type RefundAccount struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

// Confirm calls POST /v1/payments/confirm. A non-empty idempotencyKey is sent as
// Idempotency-Key; keys over 300 characters fail with ErrIdempotencyKeyTooLong before
// sending. Errors: *APIError for a non-2xx answer, ErrMalformedResponse for an undecodable
// 2xx answer, anything else is a transport failure (outcome unknown).
func (c *Client) Confirm(ctx context.Context, req ConfirmRequest, idempotencyKey string) (Payment, error) {
	body := struct {
		PaymentKey string      `json:"paymentKey"`
		OrderID    string      `json:"orderId"`
		Amount     json.Number `json:"amount"`
	}{req.PaymentKey, req.OrderID, json.Number(req.Amount.String())}
	p, err := c.do(ctx, http.MethodPost, "/v1/payments/confirm", body, idempotencyKey)
	if err != nil {
		return Payment{}, fmt.Errorf("toss confirm order %s: %w", req.OrderID, err)
	}
	return p, nil
}

// PaymentByKey calls GET /v1/payments/{paymentKey}. Errors as for Confirm; an unknown key is
// an *APIError with Code NOT_FOUND_PAYMENT.
func (c *Client) PaymentByKey(ctx context.Context, paymentKey string) (Payment, error) {
	p, err := c.do(ctx, http.MethodGet, "/v1/payments/"+url.PathEscape(paymentKey), nil, "")
	if err != nil {
		return Payment{}, fmt.Errorf("toss payment %s: %w", paymentKey, err)
	}
	return p, nil
}

// PaymentByOrderID calls GET /v1/payments/orders/{orderId}. Errors as for PaymentByKey.
func (c *Client) PaymentByOrderID(ctx context.Context, orderID string) (Payment, error) {
	p, err := c.do(ctx, http.MethodGet, "/v1/payments/orders/"+url.PathEscape(orderID), nil, "")
	if err != nil {
		return Payment{}, fmt.Errorf("toss payment of order %s: %w", orderID, err)
	}
	return p, nil
}

// Cancel calls POST /v1/payments/{paymentKey}/cancel. Idempotency key and errors as for
// Confirm.
func (c *Client) Cancel(ctx context.Context, paymentKey string, req CancelRequest, idempotencyKey string) (Payment, error) {
	body := struct {
		CancelReason  string         `json:"cancelReason"`
		CancelAmount  *json.Number   `json:"cancelAmount,omitempty"`
		TaxFreeAmount *json.Number   `json:"taxFreeAmount,omitempty"`
		RefundAccount *RefundAccount `json:"refundReceiveAccount,omitempty"`
	}{CancelReason: req.Reason, RefundAccount: req.RefundAccount}
	if req.TaxFreeAmount.IsPositive() {
		n := json.Number(req.TaxFreeAmount.String())
		body.TaxFreeAmount = &n
	}
	if req.Amount != nil {
		n := json.Number(req.Amount.String())
		body.CancelAmount = &n
	}
	p, err := c.do(ctx, http.MethodPost, "/v1/payments/"+url.PathEscape(paymentKey)+"/cancel", body, idempotencyKey)
	if err != nil {
		return Payment{}, fmt.Errorf("toss cancel %s: %w", paymentKey, err)
	}
	return p, nil
}

// do sends one request and decodes a Payment from a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, body any, idempotencyKey string) (Payment, error) {
	raw, err := c.send(ctx, method, path, body, idempotencyKey, maxBody)
	if err != nil {
		return Payment{}, err
	}
	return parsePayment(raw)
}

// send sends one request and returns the body of a 2xx answer, refusing one longer than
// limit bytes. Errors as for Confirm.
func (c *Client) send(ctx context.Context, method, path string, body any, idempotencyKey string, limit int64) ([]byte, error) {
	if utf8.RuneCountInString(idempotencyKey) > maxIdempotencyKey {
		return nil, ErrIdempotencyKeyTooLong
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, reqBody)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	// Without GetBody net/http cannot silently resend a POST (it would for one carrying an
	// Idempotency-Key whose reused connection died): every attempt stays the caller's, and
	// a lost answer is reported rather than hidden.
	req.GetBody = nil
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(string(c.key)+":")))
	req.Header.Set("Content-Type", "application/json")
	if c.acceptLanguage != "" {
		req.Header.Set("Accept-Language", c.acceptLanguage)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read HTTP %d response: %w", resp.StatusCode, err)
	}
	tooLarge := int64(len(raw)) > limit
	if tooLarge {
		raw = raw[:limit]
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newAPIError(resp.StatusCode, raw)
	}
	if tooLarge {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrMalformedResponse, limit)
	}
	return raw, nil
}
