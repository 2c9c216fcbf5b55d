// Package access says who is calling paystream and what they may do: API keys (bearer
// tokens) with a name and a role, and a per-key rate limit.
//
// Invariants:
//   - A key's token is never stored: a Keyring holds the SHA-256 of each token, and a
//     presented token is hashed and compared with every configured hash in constant time
//     (subtle.ConstantTimeCompare, no early exit), so neither the tokens nor which one was
//     close leak through memory dumps, logs or timing. Tokens never appear in errors or
//     log values (Token implements slog.LogValuer).
//   - A token is 256 bits from crypto/rand; its SHA-256 is therefore as good as a slow
//     password hash (there is nothing to brute-force).
//   - Roles are closed: merchant, operator, auditor. What each may call is the HTTP layer's
//     table (httpapi), not this package's.
//   - A Keyring can be swapped whole (Replace) while requests are served: rotation is
//     "add the new key, reload, hand it out, remove the old key, reload".
package access
