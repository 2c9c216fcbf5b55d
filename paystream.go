// Package paystream is the root of an event-sourced payment service for merchants who take
// payments through Toss Payments. See README.md for how to run it and DESIGN notes in the
// package docs (aggregate, commands, eventstore, toss, httpapi).
//
// This package only carries the sample data the embedded mode runs with.
package paystream

import _ "embed"

// SampleCatalog is testdata/catalog.json: the products the embedded mode sells.
//
//go:embed testdata/catalog.json
var SampleCatalog []byte
