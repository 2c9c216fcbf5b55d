package main

import (
	"net/http"
)

// testKey is the API key the specs' fake paymentd accepts.
const testKey = "psk_paymentctl_spec"

func withKey(name string) string {
	if name == "PAYSTREAM_API_KEY" {
		return testKey
	}
	return ""
}

// requireKey answers 401 problem+json, as paymentd does, unless the request carries testKey.
func requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"urn:paystream:problem:unauthenticated","title":"An API key is required","status":401}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
