// Package console is paystream's web console: the pages operators and auditors open instead
// of curl, served by paymentd under /console/ from assets embedded in the binary (plain
// HTML, CSS and JavaScript modules; nothing fetched from elsewhere, no build step).
//
// The pages call paymentd's own API (payments, /audit timelines and as-of, /admin attention,
// resolutions, refunds, read-model health, /metrics) with a session instead of a bearer key:
// signing in exchanges an API key for a short-lived session (Sessions), held in a cookie
// that scripts cannot read (HttpOnly), that the browser sends to no other site's requests
// (SameSite=Strict), and that travels only over TLS when TLS is in front (Secure). The key
// itself stays in paymentd's memory, re-checked on every request, so a key removed from the
// configuration ends its sessions at once.
//
// Invariants:
//   - A session's role is its key's: operators see and may take actions, auditors only read,
//     and the server refuses what the role may not do whatever the page shows
//     (httpapi.Protect).
//   - Every request with the cookie that is not a read carries the session's CSRF token in
//     the X-CSRF-Token header (checked by httpapi.Protect in constant time); a page on another
//     site can neither read the token nor make the browser send the cookie.
//   - Every action that records an event asks for the reason the event carries, and shows
//     the event it recorded. Nothing in the console changes money without an event.
//   - Every console response carries a Content-Security-Policy that allows only paymentd's
//     own assets ('self'): no inline script, no other origin.
//
// Sessions live in the memory of the paymentd that made them: behind several instances,
// route a browser to the same one (or sign in again).
package console
