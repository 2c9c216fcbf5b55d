// Package toss is a client for the Toss Payments core API (version 2022-11-16): confirm,
// look up and cancel payments.
//
// Invariants:
//   - A non-2xx answer is always an *APIError, even when its body is not Toss's error JSON
//     (then Code is ""). A transport failure (timeout, reset, context deadline) is never an
//     *APIError: errors.As(err, new(*APIError)) tells "Toss said no" from "we don't know".
//   - A 2xx answer that does not decode as a Payment is an error wrapping
//     ErrMalformedResponse; callers treat it as an unknown outcome, never as success.
//   - Money is decimal.Decimal parsed from the JSON number text, never through float64;
//     totalAmount must be present and integer-valued.
//   - Method is normalised to its English code whatever Accept-Language the answer used;
//     unknown methods, statuses and fields are kept or ignored, never an error.
//   - Payment.Raw holds the exact bytes Toss sent, as evidence.
//   - The secret key never appears in logs or error messages (SecretKey redacts itself).
//
// The Client is safe for concurrent use. It makes exactly one HTTP attempt per call and
// never retries, not even the transparent resend net/http does for keyed POSTs on a dead
// keep-alive connection: retry policy belongs to the caller, which knows the idempotency
// key and the deadline, and a lost answer must reach it as an unknown outcome.
package toss
