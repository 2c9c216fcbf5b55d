// Command tosssim serves the Toss Payments simulator (package toss/tosssim) over HTTP for
// local runs and load tests.
//
// Configuration, from the environment with flags as overrides:
//
//	TOSSSIM_ADDR         -addr   listen address (default 127.0.0.1:8090)
//	TOSSSIM_SEED         -seed   seed of the fault decisions (default 0)
//	TOSSSIM_SECRET_KEYS          comma-separated accepted secret keys (default: any test key);
//	                             environment only, so keys stay out of process listings
//	TOSSSIM_WEBHOOK_URL          the merchant's webhook endpoint (default: no webhooks),
//	                             e.g. http://127.0.0.1:8080/v1/webhooks/toss
//	TOSSSIM_WEBHOOK_RETRY_SCALE  divides Toss's retry schedule (1 to 4096 minutes) for
//	                             tests: 60 turns minutes into seconds (default 1)
//	TOSSSIM_DATA_DIR     -data-dir  keeps the payments, transactions and idempotency keys
//	                             in a database there, found again at the next start, with
//	                             bounded memory (default: in memory, for the run only)
//
// Invalid values stop it at start with a message naming the variable or flag, never echoing
// a key. It logs JSON to stdout, first the address it listens on, and shuts down gracefully
// on SIGINT or SIGTERM. Faults are set at run time with PUT /sim/v1/faults.
package main
