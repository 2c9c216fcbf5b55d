// Package wallet is paystream's reference seller wallet: the downstream subscriber that
// credits each seller with the amounts of their approved orders.
//
// Invariants:
//   - A wallet's balance is the sum of the credits applied to it; credits are never edited.
//   - Applying an approval is atomic (every order's credit or none) and idempotent by
//     message id: a redelivered approval changes no balance.
//
// Storage is behind Store; MemoryStore keeps it in memory (the embedded mode and tests).
// The Kafka side lives in the booking package.
package wallet
