// Package bookingtest holds what the booking sides' test suites share: Benchmark, the heap
// and the time a store behind a booking.Booker (the ledger, the wallet) takes per payment.
package bookingtest
