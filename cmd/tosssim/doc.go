// Command tosssim serves the Toss Payments simulator (package toss/tosssim) over HTTP for
// local runs and load tests.
//
// Configuration, from the environment with flags as overrides:
//
//	TOSSSIM_ADDR         -addr   listen address (default 127.0.0.1:8090)
//	TOSSSIM_SEED         -seed   seed of the fault decisions (default 0)
//	TOSSSIM_SECRET_KEYS          comma-separated accepted secret keys (default: any test key);
//	                             environment only, so keys stay out of process listings
//
// Invalid values stop it at start with a message naming the variable or flag, never echoing
// a key. It logs JSON to stdout, first the address it listens on, and shuts down gracefully
// on SIGINT or SIGTERM. Faults are set at run time with PUT /sim/v1/faults.
package main
