// Package tosssim is a stateful simulator of the Toss Payments core API, with fault
// injection, for tests (in-process, as an http.Handler) and for local runs (cmd/tosssim).
// New keeps its payments in memory; Open keeps them in a database in a directory, so that
// its memory does not grow with them (see Storage below).
//
// Toss endpoints, with Toss's paths, JSON shapes and error codes:
//
//	POST /v1/payments/confirm                 capture an authorised session
//	GET  /v1/payments/{paymentKey}            look a payment up
//	GET  /v1/payments/orders/{orderId}        look a payment up by order
//	POST /v1/payments/{paymentKey}/cancel     cancel all or part of it
//	GET  /v1/transactions?startDate&endDate&startingAfter&limit   approvals and cancels
//	GET  /v1/settlements?startDate&endDate&dateType&page&size     their fees and payouts
//
// Simulator endpoints, standing in for the buyer's widget and for operators of a test run
// (no authentication):
//
//	POST /sim/v1/sessions   {orderId, amount, orderName?, method?, isPartialCancelable?,
//	                        overseas?, validHours?, customerName?, bank?} → 201 {paymentKey, …}
//	POST /sim/v1/payments/{paymentKey}/deposit   {amount}
//	                        → 200 Payment: the buyer pays into the virtual account
//	POST /sim/v1/payments/{paymentKey}/deposit-error
//	                        → 200 Payment: the deposit failed after all (DONE → WAITING_FOR_DEPOSIT)
//	POST /sim/v1/payments/{paymentKey}/console-cancel   {cancelReason, cancelAmount?}
//	                        → 200 Payment: a cancel "made in Toss's console" (or by a card
//	                        company): not through the API, so no idempotency, no faults, no
//	                        consecutive-request window, no refund account; otherwise the
//	                        cancel rules below, with Toss's error codes. The merchant learns
//	                        of it by webhook, if one is configured, or by looking it up.
//	PATCH /sim/v1/transactions/{transactionKey}   {amount?, status?, hidden?, payOutAmount?}
//	                        → 200 Transaction: make Toss's records disagree on purpose
//	                        (Alteration), for reconciliation tests and demos
//	GET  /sim/v1/stats      running totals (Stats)
//	GET  /sim/v1/faults     the faults in force
//	PUT  /sim/v1/faults     replace them (Faults as JSON)
//
// The Payment object is Toss's, version 2022-11-16, whole: every member Toss's reference
// lists, null where Toss sends null. Methods: card (카드), virtual account (가상계좌), easy
// pay (간편결제), transfer (계좌이체), mobile phone (휴대폰) and the gift certificates
// (문화상품권, 도서문화상품권, 게임문화상품권); the member of the method (card, virtualAccount,
// easyPay, transfer, mobilePhone, giftCertificate) is filled from the confirm on, the
// others are null. One buyer profile per method: a personal credit card of issuer and
// acquirer "11", number masked, lump sum, no points, a random 8-digit approveNo, acquireStatus
// READY (CANCELED once canceled in full, before acquisition); easy pay by 토스페이 from its
// prepaid balance (card null, easyPay.amount the total); transfer from the session's bank;
// phone 01012345678; settlementStatus INCOMPLETED throughout, as settlement comes days
// later. receipt.url (from the confirm on) and checkout.url have Toss's sandbox shape and
// lead nowhere; failure is set only for a session that expired (EXPIRED_PAYMENT); secret is
// null but for virtual accounts; virtualAccount.refundReceiveAccount shows the refund
// account, masked, once a refund went to it; useEscrow and cultureExpense are false,
// taxExemptionAmount 0, country KR; metadata, discount, cashReceipt and cashReceipts are
// null. Each cancel carries taxExemptionAmount and easyPayDiscountAmount 0, receiptKey and
// cancelRequestId null. With Accept-Language en, method, card.cardType (CREDIT),
// card.ownerType (PERSONAL), easyPay.provider (TOSSPAY) and virtualAccount.accountType are
// English. Fields Toss added later without a new version (such as
// virtualAccount.depositorName) are not sent.
//
// The specs check these shapes against the OpenAPI schema of the npm package
// toss-payments-server-api 10.0.0 (testdata/toss-payments-server-api, MIT, by samchon, not
// by Toss). That schema is older than Toss's docs for 2022-11-16, which the simulator
// follows where they differ: it requires transactionKey (now lastTransactionKey),
// card.company (now card.issuerCode and card.acquirerCode), card.receiptUrl (now
// receipt.url), virtualAccount.bank and transfer.bank (now bankCode), mobilePhone.carrier
// (gone) and cancels[].taxAmount (gone; taxFreeAmount and taxExemptionAmount); it has
// easyPay as the provider's name (now an object {provider, amount, discountAmount}), no
// easy-pay payment (method 간편결제, card null unless a card paid) and a card on every
// card payment (null for a session that expired unpaid); a 16-digit card.number (Toss
// masks it); virtualAccount.dueDate as a date (Toss sends a date-time); method 상품권 (Toss
// names each certificate) and giftCertificate.settlementStatus COMPLETE|INCOMPLETE (Toss
// uses COMPLETED|INCOMPLETED for every method). It does not know receipt, checkout,
// failure, isPartialCancelable, taxExemptionAmount, country, metadata, cashReceipts,
// card.amount, card.issuerCode, card.interestPayer, virtualAccount.refundReceiveAccount or
// a cancel's taxExemptionAmount, easyPayDiscountAmount, transactionKey, receiptKey,
// cancelStatus and cancelRequestId, so it says nothing about them; the spec of Toss's
// field lists (payment_object_test.go) covers those.
//
// Invariants:
//   - Money is captured at most once per orderId: an approval happens only from
//     IN_PROGRESS (a confirm) or WAITING_FOR_DEPOSIT (a deposit), under that order's lock,
//     and leaves it DONE; a deposit error withdraws it. Approvals never exceeds 1.
//   - Idempotency follows Toss: the scope is (Idempotency-Key, secret key, method, path); a
//     repeat of a completed request replays the first answer byte for byte without looking
//     at the body; a repeat while the first is in flight gets 409
//     IDEMPOTENT_REQUEST_PROCESSING; keys live 15 days by Options.Now. Only answers produced
//     by executing the request are kept: malformed requests, TossPayments-Test-Code answers,
//     consecutive-cancel refusals and injected 5xx, provider errors and timeouts leave the
//     key free for a retry. A
//     dropped answer (RateDropAfterApprove, confirms and cancels) is kept, so a retry
//     learns the approval or the cancel. The path is part of the scope, so one key used on
//     two payments' cancels is two requests.
//   - Amounts follow Toss's limits: below 100 KRW (200 KRW by transfer or virtual account)
//     400 BELOW_MINIMUM_AMOUNT, above Options.MaxAmount (the merchant contract's limit,
//     default 100,000,000 KRW) 400 EXCEED_MAX_AMOUNT, for sessions and confirms alike.
//   - Choices where Toss publishes nothing: an amount that differs from the session's is
//     400 INVALID_REQUEST; an orderId that differs from the paymentKey's session is 400
//     UNAPPROVED_ORDER_ID; an unknown, replaced or expired session is 404
//     NOT_FOUND_PAYMENT_SESSION. Every method but the virtual account confirms to DONE.
//     Enums are English with "Accept-Language: en…", Korean otherwise; error messages are
//     English.
//   - Virtual accounts follow Toss: the confirm answers 200 WAITING_FOR_DEPOSIT with
//     approvedAt null, virtualAccount {accountType, accountNumber, bankCode, customerName,
//     dueDate (7 days after the confirm by default, validHours up to 30 days), refundStatus,
//     expired, settlementStatus, refundReceiveAccount} and a per-payment secret; no money is
//     captured (Approvals stays 0). Only a deposit of exactly the amount is taken, as Toss's
//     banks take nothing else; it makes the payment DONE with approvedAt and a new
//     transaction key. Past the due date the payment stays WAITING_FOR_DEPOSIT with
//     expired true and deposits are refused; Toss sends no webhook for it. A deposit error
//     puts a DONE payment back to WAITING_FOR_DEPOSIT (approvedAt null again, the approval
//     withdrawn) until the buyer deposits again. A waiting account is canceled in full only
//     (403 NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT), without a refund account, and
//     closes; a refund after the deposit leaves refundStatus COMPLETED.
//   - Choices where Toss publishes nothing for deposits (they are the bank's, not the
//     API's): a wrong amount is 400 DEPOSIT_AMOUNT_MISMATCH, a deposit past the due date
//     403 VIRTUAL_ACCOUNT_EXPIRED, to a payment not waiting 409 NOT_WAITING_FOR_DEPOSIT; a
//     deposit error of a payment not DONE is 409 NOT_DEPOSITED; the account number is 14
//     random digits, the holder "구매자" and the bank "20" unless the session says
//     otherwise; settlementStatus stays INCOMPLETED.
//   - Cancels follow Toss: only DONE or PARTIAL_CANCELED payments (else 403
//     NOT_CANCELABLE_PAYMENT; CANCELED is 400 ALREADY_CANCELED_PAYMENT); cancelAmount
//     absent cancels the balance, above it is 403 NOT_CANCELABLE_AMOUNT, below it on a
//     payment with isPartialCancelable false is 403 NOT_ALLOWED_PARTIAL_REFUND;
//     taxFreeAmount above cancelAmount is 400 INVALID_REQUEST; a virtual-account payment
//     needs refundReceiveAccount (400 INVALID_REQUEST without one, INVALID_BANK,
//     INVALID_REFUND_ACCOUNT_NUMBER for anything but 1–20 digits, INVALID_REFUND_ACCOUNT_INFO
//     without a holder). A cancel request within a second of the previous one that reached
//     the same payment is 403 FORBIDDEN_CONSECUTIVE_REQUEST, executed or not; that refusal
//     is not processed, so it neither extends the window nor uses up its key. Each cancel
//     appends to cancels[] with its own transactionKey (also lastTransactionKey),
//     canceledAt, cancelStatus DONE, taxFreeAmount and refundableAmount (the balance left),
//     lowers balanceAmount, and leaves the payment PARTIAL_CANCELED, or CANCELED at zero.
//     Idempotency and faults work as for confirm; a dropped cancel answer is kept for its key.
//   - Choices where Toss publishes nothing for cancels: the codes of a missing or malformed
//     refund account above; every method can be cancelled in part unless the session said
//     isPartialCancelable false.
//   - Latency is time Toss spends working: the request executes even if the caller gives up
//     meanwhile. A timeout fault executes nothing and never answers.
//   - No lock is held while sleeping; state is sharded per order (a table of orders under
//     64 locks, plus a mutex per order), so confirms of different orders never wait for
//     each other. One *order stands for an orderId while any request uses it: a request
//     pins the order it locks, and only an unpinned order leaves memory (orders.go).
//   - Toss keeps its payments, so the simulator does too: payments, their counters and
//     transactions are never evicted, as Toss answers lookups, cancels and transaction
//     lists for old payments too. Idempotency keys and their answers are dropped once
//     older than 15 days (swept at most hourly), as Toss forgets them.
//
// Storage. New keeps everything in Go memory for the simulator's lifetime: about 3.5 KB
// of heap per confirmed payment, 2 KB of it the answer kept for its confirm's
// Idempotency-Key until the key expires. Open keeps the payments, transactions and kept
// answers in a Pebble database (localkv: bounded cache and memtables; layout in disk.go)
// and in Go memory only the orders requests are using, up to 1024 recently used ones and
// the idempotency keys whose first request is in flight: a fixed amount, whatever the
// number of payments. With a database:
//   - Every change of an order is written, with its new paymentKey and its transaction,
//     in one batch before the order's lock is released (request counters ride along with
//     the request's own change, or are written when it is answered); an order in memory
//     thus never holds a change that is not on disk once nobody uses it.
//   - A kept Payment answer is stored as the order it was rendered from and rendered
//     again on a replay: render depends only on what the order's encoding holds, so the
//     replay is the same bytes.
//   - Writes are not fsync'd (pebble.NoSync). After Close, Open on the same directory
//     finds every payment, transaction, counter and kept answer, and lists later
//     transactions after earlier ones; after a crash of the process the latest changes
//     may be missing, each whole with its transaction or not at all. Stats, faults and
//     the webhook URL are not kept: they start afresh with every Open.
//   - Close waits for the requests and calls in progress, then closes the database;
//     later requests are answered 503, later Go calls fail with ErrClosed or find
//     nothing. A failure of the database (an I/O error, a record that does not decode)
//     panics: the simulator cannot answer for payments it cannot read or write.
//
// Transactions and settlements (transactions.go, settlements.go): every approval (a
// confirm to DONE, a deposit), every cancel (API or console) and every withdrawn deposit is
// a transaction with its own transactionKey, listed by GET /v1/transactions in
// transactionAt order (KST date-times, both ends inclusive; startingAfter a transactionKey
// of the range, else 400; limit 1–5000, default 100) and settled by GET /v1/settlements by
// the fee contract settlements.go describes (dates in KST, both inclusive; dateType
// soldDate or paidOutDate; page from 1, size 1–10000, default 100). Both follow the API's
// authentication, latency and 5xx/timeout faults. A dropped webhook leaves them as they
// are: they are how the merchant finds what it missed. Alterations (PATCH above,
// AlterTransaction in Go) change a transaction's amount (its settlement follows), its
// status, hide it from both lists, or make its settlement pay out another amount.
//
// Webhooks: given the merchant's URL (Options.Webhooks, or SetWebhookURL later) the
// simulator POSTs Toss's webhooks: PAYMENT_STATUS_CHANGED {eventType, createdAt, data:
// Payment} for every status change it makes (confirms, deposits, deposit errors, cancels,
// console cancels); DEPOSIT_CALLBACK {createdAt, secret, status, transactionKey, orderId}
// for every change of a virtual account (issued, deposited, deposit error, canceled); and
// CANCEL_STATUS_CHANGED {eventType, createdAt, data: Cancel} for the cancels of overseas
// easy-pay payments (sessions with overseas true), the only ones Toss sends it for.
// createdAt is KST with microseconds and no offset ("2022-01-01T00:00:00.000000"); enums
// are Korean. Every attempt carries tosspayments-webhook-transmission-id (the same across
// retries and duplicates), -transmission-time and -transmission-retried-count. An attempt
// not answered 200 within WebhookOptions.Timeout is retried seven times, 1, 4, 16, 64,
// 256, 1024 and 4096 minutes after the previous one (divided by WebhookOptions.RetryScale),
// then abandoned. Delivery never holds up the API: at most QueueSize events are held
// (retries waiting included; beyond, an event is counted and not sent), Workers
// goroutines post them, and Close abandons the rest and cancels attempts in flight. The
// webhook faults (Faults.WebhookRate…) drop, duplicate, reorder or delay an event. Not
// sent, as at Toss: anything when a virtual account's due date passes. Not sent by the
// simulator although Toss sends it: PAYMENT_STATUS_CHANGED for an unconfirmed session
// that expires, since the simulator notices expiry only when the session is next used.
//
// A dropped answer closes the connection before any byte is sent. A plain net/http client
// then transparently resends a POST carrying an Idempotency-Key on a reused connection and
// receives the kept answer; toss.Client opts out, so its callers see the drop.
package tosssim
