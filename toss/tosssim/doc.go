// Package tosssim is a stateful, in-memory simulator of the Toss Payments core API, with
// fault injection, for tests (in-process, as an http.Handler) and for local runs
// (cmd/tosssim).
//
// Toss endpoints, with Toss's paths, JSON shapes and error codes:
//
//	POST /v1/payments/confirm                 capture an authorised session
//	GET  /v1/payments/{paymentKey}            look a payment up
//	GET  /v1/payments/orders/{orderId}        look a payment up by order
//	POST /v1/payments/{paymentKey}/cancel     cancel all or part of it
//
// Simulator endpoints, standing in for the buyer's widget and for operators of a test run
// (no authentication):
//
//	POST /sim/v1/sessions   {orderId, amount, orderName?, method?} → 201 {paymentKey, …}
//	GET  /sim/v1/stats      running totals (Stats)
//	GET  /sim/v1/faults     the faults in force
//	PUT  /sim/v1/faults     replace them (Faults as JSON)
//
// Invariants:
//   - Money is captured at most once per orderId: an approval happens only from
//     IN_PROGRESS, under that order's lock, and leaves it DONE. Approvals never exceeds 1.
//   - Idempotency follows Toss: the scope is (Idempotency-Key, secret key, method, path); a
//     repeat of a completed request replays the first answer byte for byte without looking
//     at the body; a repeat while the first is in flight gets 409
//     IDEMPOTENT_REQUEST_PROCESSING; keys live 15 days by Options.Now. Only answers produced
//     by executing the request are kept: malformed requests, TossPayments-Test-Code answers
//     and injected 5xx, provider errors and timeouts leave the key free for a retry. A
//     dropped answer (RateDropAfterApprove) is kept, so a retry learns the approval.
//   - Amounts follow Toss's limits: below 100 KRW (200 KRW by transfer or virtual account)
//     400 BELOW_MINIMUM_AMOUNT, above Options.MaxAmount (the merchant contract's limit,
//     default 100,000,000 KRW) 400 EXCEED_MAX_AMOUNT, for sessions and confirms alike.
//   - Choices where Toss publishes nothing: an amount that differs from the session's is
//     400 INVALID_REQUEST; an orderId that differs from the paymentKey's session is 400
//     UNAPPROVED_ORDER_ID; an unknown, replaced or expired session is 404
//     NOT_FOUND_PAYMENT_SESSION. Every method confirms to DONE (no virtual-account deposit
//     wait). Enums are English with "Accept-Language: en…", Korean otherwise; error
//     messages are English.
//   - Latency is time Toss spends working: the request executes even if the caller gives up
//     meanwhile. A timeout fault executes nothing and never answers.
//   - No lock is held while sleeping; state is sharded per order (sync.Map plus a mutex per
//     order), so confirms of different orders never wait for each other.
//   - Everything lives in memory for the simulator's lifetime; nothing is evicted.
//
// A dropped answer closes the connection before any byte is sent. A plain net/http client
// then transparently resends a POST carrying an Idempotency-Key on a reused connection and
// receives the kept answer; toss.Client opts out, so its callers see the drop.
package tosssim
