// Package httpapi is paystream's HTTP interface: gorilla/mux routes, JSON in and out, and
// one table (problem.go) that maps every error to an RFC 9457 problem+json answer.
//
// Invariants: request bodies are size-limited and decoded strictly (unknown fields, wrong
// types and trailing data are 400s naming the field) before anything reaches the service, so
// bad input never records anything; money is a JSON string of whole KRW on the way out and
// a number or numeric string on the way in; openapi.yaml documents exactly the routes
// NewHandler serves (a spec checks it). Unmapped errors are logged once, here, as 500s.
package httpapi
