// Package memory is the in-memory read model adapter: the embedded default of paymentd and
// the reference the conformance suite (projections/readmodeltest) is written against.
//
// Invariants: a Commit is atomic under one mutex (rows, history and checkpoint change
// together); readers get copies, never the stored values. It lives as long as the process,
// so paymentd rebuilds it from position 0 at every start.
package memory
