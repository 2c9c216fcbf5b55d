package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/esdb"
)

// eventStore is the store paymentd runs on: the whole seam, and Close.
type eventStore interface {
	eventstore.Store
	Close() error
}

// storeConnectTimeout bounds how long paymentd waits at start for EventStoreDB to answer.
const storeConnectTimeout = 30 * time.Second

// openStore opens the event store the configuration selects: EventStoreDB when
// EVENTSTORE_URL is set, else the embedded store in PAYSTREAM_DATA_DIR, else in memory.
// Errors name the variable.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (eventStore, error) {
	switch {
	case cfg.EventStoreURL != "":
		ctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
		defer cancel()
		s, err := esdb.Open(ctx, cfg.EventStoreURL, esdb.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("EVENTSTORE_URL: %w", err)
		}
		return s, nil
	case cfg.DataDir != "":
		s, err := embedded.Open(cfg.DataDir, embedded.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR %s: %w", cfg.DataDir, err)
		}
		return s, nil
	}
	return embedded.OpenMemory(), nil
}

// storeMode says which store runs, for the start-up log line (never the connection
// string: it may hold a password).
func storeMode(cfg Config) string {
	switch {
	case cfg.EventStoreURL != "":
		return "eventstoredb"
	case cfg.DataDir != "":
		return cfg.DataDir
	}
	return "memory"
}

// eventStoreProblems validates EVENTSTORE_URL for LoadConfig.
func eventStoreProblems(cfg Config) []string {
	if cfg.EventStoreURL == "" {
		return nil
	}
	var problems []string
	if _, err := esdb.ParseURL(cfg.EventStoreURL); err != nil {
		problems = append(problems, fmt.Sprintf("EVENTSTORE_URL: not an EventStoreDB connection string such as esdb://host:2113?tls=false (%v)", err))
	}
	if cfg.DataDir != "" {
		problems = append(problems, "EVENTSTORE_URL: PAYSTREAM_DATA_DIR is set too; they are mutually exclusive (EventStoreDB or the embedded store), unset one")
	}
	return problems
}
