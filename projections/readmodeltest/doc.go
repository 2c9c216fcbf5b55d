// Package readmodeltest is the conformance suite every read model adapter runs (memory,
// PostgreSQL), and the event builder its specs use. Call Describe from an adapter's suite
// with a function returning a fresh, empty store.
package readmodeltest
