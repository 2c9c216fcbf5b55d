package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/completion"
	"github.com/paystream/paystream/httpapi"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/ledger"
	ledgerpebble "github.com/paystream/paystream/ledger/pebble"
	ledgerpg "github.com/paystream/paystream/ledger/postgres"
	"github.com/paystream/paystream/progress"
	"github.com/paystream/paystream/projections/forwarder"
	"github.com/paystream/paystream/reconcile"
	"github.com/paystream/paystream/wallet"
	walletpebble "github.com/paystream/paystream/wallet/pebble"
	walletpg "github.com/paystream/paystream/wallet/postgres"
)

// KafkaConfig is the Kafka part of Config.
type KafkaConfig struct {
	Brokers       []string // KAFKA_BROKERS: empty = the in-process kfake broker
	Addr          string   // KAFKA_ADDR: where the in-process broker listens
	DataDir       string   // KAFKA_DATA_DIR: empty = the in-process broker keeps nothing across restarts
	ApprovedTopic string   // KAFKA_APPROVED_TOPIC
	// ScratchDir, with DataDir empty: where the in-process broker keeps its records for this
	// run only, emptied at start and stop (PAYSTREAM_DATA_DIR/kafka-scratch); empty: memory.
	ScratchDir string
	// BooksDir, with the in-process broker: where the in-process ledger and wallet keep their
	// books, in its ledger and wallet directories (PAYSTREAM_DATA_DIR); empty: memory.
	BooksDir string
}

// kafkaFlags registers the Kafka flags on fs; validate reads them once fs is parsed.
type kafkaFlags struct{ brokers, addr, dataDir, topic *string }

func newKafkaFlags(fs *flag.FlagSet, env func(name, def string) string) kafkaFlags {
	return kafkaFlags{
		brokers: fs.String("kafka-brokers", env("KAFKA_BROKERS", ""), "external Kafka brokers, comma-separated; empty runs an in-process broker, ledger and wallet (KAFKA_BROKERS)"),
		addr:    fs.String("kafka-addr", env("KAFKA_ADDR", "127.0.0.1:9092"), "in-process Kafka listen address (KAFKA_ADDR)"),
		dataDir: fs.String("kafka-data-dir", env("KAFKA_DATA_DIR", ""), "in-process Kafka data directory; empty keeps it in memory (KAFKA_DATA_DIR)"),
		topic:   fs.String("kafka-approved-topic", env("KAFKA_APPROVED_TOPIC", kafkamsg.TopicApproved), "topic approvals are published to (KAFKA_APPROVED_TOPIC)"),
	}
}

func (k kafkaFlags) validate(bad func(name, format string, args ...any)) KafkaConfig {
	cfg := KafkaConfig{Addr: *k.addr, DataDir: *k.dataDir, ApprovedTopic: *k.topic}
	var problems []string
	cfg.Brokers, problems = kafka.ParseBrokers(*k.brokers, false) // none: the in-process broker
	for _, p := range problems {
		bad("KAFKA_BROKERS", "%s", p)
	}
	if len(cfg.Brokers) == 0 {
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			bad("KAFKA_ADDR", "%q is not host:port", cfg.Addr)
		}
	} else if cfg.DataDir != "" {
		bad("KAFKA_DATA_DIR", "is for the in-process broker; unset it when KAFKA_BROKERS is set")
	}
	if strings.TrimSpace(cfg.ApprovedTopic) == "" || strings.ContainsAny(cfg.ApprovedTopic, " /\\") {
		bad("KAFKA_APPROVED_TOPIC", "%q is not a Kafka topic name", cfg.ApprovedTopic)
	}
	return cfg
}

// kafkaScratchDir is the in-process broker's directory inside PAYSTREAM_DATA_DIR when
// KAFKA_DATA_DIR is not set.
const kafkaScratchDir = "kafka-scratch"

// kafkaStore is what the forwarder needs of the event store.
type kafkaStore = forwarder.Store

// startKafka starts the downstream loop: in embedded mode an in-process broker, the
// forwarder, the reference ledger and wallet (with cfg.BooksDir in Pebble databases there,
// kept across restarts; else in memory) and the completion consumer; with external
// brokers only the forwarder and the completion consumer. Each reports its progress on
// board (the forwarder against head, the newest event-store position). stop ends them in
// reverse order. tieOut is the books (GET /admin/v1/books): the payment streams against the
// in-process ledger and wallet, or, with external brokers, against the standalone ledger's
// and wallet's PostgreSQL stores in the database at databaseURL (nil without one). settle
// is where reconciliation books Toss's settlements: that same ledger (nil without one).
//
// lease, when set (PostgreSQL read models), is the lease the instances sharing the database
// take turns under: the forwarder runs only while this instance holds it, so that of
// several paymentd instances one forwards and another takes over within a second or so of
// it dying, instead of the two fencing each other's transactions until one stops for good.
func startKafka(ctx context.Context, cfg KafkaConfig, databaseURL string, store kafkaStore, svc *commands.Service, log *slog.Logger,
	announce func(string), board *progress.Board, head func() uint64, lease leaseFunc) (stop func(), tieOut httpapi.Books, settle reconcile.Books, err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	brokers := cfg.Brokers
	embedded := len(brokers) == 0
	var (
		ldg *ledger.Ledger
		wal *wallet.Wallet
	)
	if embedded {
		opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, cfg.Addr)
		})}
		switch {
		case cfg.DataDir != "":
			// Before kfake reads it: a kill -9 may have left a segment index short
			// (kafka.RepairIndexes says why that matters).
			repaired, err := kafka.RepairIndexes(cfg.DataDir)
			if err != nil {
				stop()
				return nil, nil, nil, fmt.Errorf("KAFKA_DATA_DIR %s: %w", cfg.DataDir, err)
			}
			for _, idx := range repaired {
				log.Warn("in-process kafka: rebuilt a segment index a crash left short", "file", idx)
			}
			opts = append(opts, kfake.DataDir(cfg.DataDir), kfake.SyncWrites())
		case cfg.ScratchDir != "":
			// As in memory, nothing survives a restart; but the records wait in files (the page
			// cache) rather than in the heap, so the broker's memory stays small.
			if err := os.RemoveAll(cfg.ScratchDir); err != nil {
				return nil, nil, nil, fmt.Errorf("in-process kafka: empty %s: %w", cfg.ScratchDir, err)
			}
			opts = append(opts, kfake.DataDir(cfg.ScratchDir))
			stops = append(stops, func() {
				if err := os.RemoveAll(cfg.ScratchDir); err != nil {
					log.Warn("in-process kafka: could not empty its scratch directory", "path", cfg.ScratchDir, "error", err)
				}
			})
		}
		cluster, err := kfake.NewCluster(opts...)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("KAFKA_ADDR %s: in-process kafka: %w", cfg.Addr, err)
		}
		stops = append(stops, cluster.Close)
		brokers = cluster.ListenAddrs()
		if cfg.DataDir != "" {
			if err := recoverCrashed(ctx, brokers, log); err != nil {
				stop()
				return nil, nil, nil, fmt.Errorf("KAFKA_DATA_DIR %s: %w", cfg.DataDir, err)
			}
		}
		announce(brokers[0])
		// Opened before the consumers start, so that stop closes them after they stopped.
		ls, ws, closeBooks, err := openBooks(cfg.BooksDir, log)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		stops = append(stops, closeBooks)
		ldg, wal = ledger.New(ls), wallet.New(ws)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stops = append(stops, func() { cancel(); wg.Wait() })
	keep := func(t *progress.Tracker, run func(context.Context) error) {
		wg.Go(func() { supervise(runCtx, log.With("component", t.Name()), t, run) })
	}
	k := kafka.Config{Brokers: brokers, Logger: log, StartupTimeout: startupTimeout}
	leased := lease != nil && !embedded // an in-process broker is this instance's alone
	var forwarding atomic.Bool
	fwdProgress := board.Track("forwarder", func() uint64 {
		if leased && !forwarding.Load() {
			return 0 // standing by: another instance forwards
		}
		return head()
	})
	fwd := forwarder.New(store, k, forwarder.WithTopic(cfg.ApprovedTopic), forwarder.WithProgress(fwdProgress))
	forward := fwd.Run
	if leased {
		forward = func(ctx context.Context) error {
			standby := beating(ctx, fwdProgress) // a forwarder standing by is alive, not stalled
			err := lease(ctx, "forwarder", func(ctx context.Context) error {
				standby()
				forwarding.Store(true)
				defer forwarding.Store(false)
				return fwd.Run(ctx)
			})
			standby()
			if errors.Is(err, kafka.ErrFenced) {
				// The lease moved while this instance still forwarded (its database
				// connection failed): the new holder fenced it. Stand by for the lease again
				// rather than stop for good.
				return fmt.Errorf("forwarder: taken over by another instance, standing by: %v", err)
			}
			return err
		}
	}
	keep(fwdProgress, forward)
	if embedded {
		for _, sub := range []struct {
			name, schema string
			booker       booking.Booker
		}{
			{"ledger", kafkamsg.SchemaLedgerUpdated, ldg},
			{"wallet", kafkamsg.SchemaWalletUpdated, wal},
		} {
			t := board.Track(sub.name, nil)
			keep(t, booking.New(k, sub.name, sub.schema, sub.booker, booking.WithApprovedTopic(cfg.ApprovedTopic),
				booking.WithProgress(t)).Run)
		}
	} else if databaseURL != "" {
		pool, err := pgxpool.New(ctx, databaseURL)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("DATABASE_URL: books: %w", err)
		}
		stops = append(stops, pool.Close)
		octx, cancel := context.WithTimeout(ctx, startupTimeout)
		defer cancel()
		// The standalone ledger and wallet migrate their schemas too; opening them here
		// applies the same migrations (idempotent, under an advisory lock) if they have not.
		ls, err := ledgerpg.Open(octx, pool)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("DATABASE_URL: books: %w", err)
		}
		ws, err := walletpg.Open(octx, pool)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("DATABASE_URL: books: %w", err)
		}
		ldg, wal = ledger.New(ls), wallet.New(ws)
	}
	compProgress := board.Track("completion", nil)
	keep(compProgress, completion.New(svc, k, completion.WithProgress(compProgress)).Run)
	if ldg != nil {
		tally := books.NewTally()
		wg.Go(func() { followTally(runCtx, tally, store, log.With("component", "books")) })
		tieOut, settle = books.New(tally, ldg, wal), ldg
	}
	log.Info("downstream started", "brokers", brokers, "in_process", embedded, "topic", cfg.ApprovedTopic)
	return stop, tieOut, settle, nil
}

// openBooks opens the in-process ledger's and wallet's stores: in Pebble databases in dir's
// ledger and wallet directories, whose memory does not grow with the payments, or, without
// dir, in memory. close closes them, logging a failure (nothing is left to return it to at
// shutdown). Errors name PAYSTREAM_DATA_DIR.
func openBooks(dir string, log *slog.Logger) (ledger.Store, wallet.Store, func(), error) {
	if dir == "" {
		return ledger.NewMemoryStore(), wallet.NewMemoryStore(), func() {}, nil
	}
	closeLogged := func(name string, c interface{ Close() error }) {
		if err := c.Close(); err != nil {
			log.Warn("closing the in-process "+name, "err", err)
		}
	}
	ls, err := ledgerpebble.Open(filepath.Join(dir, "ledger"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
	}
	ws, err := walletpebble.Open(filepath.Join(dir, "wallet"))
	if err != nil {
		closeLogged("ledger", ls)
		return nil, nil, nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
	}
	return ls, ws, func() { closeLogged("wallet", ws); closeLogged("ledger", ls) }, nil
}

// beating beats t every half second until the returned stop is called (more than once is
// fine) or ctx ends.
func beating(ctx context.Context, t *progress.Tracker) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		progress.Poll(ctx, 500*time.Millisecond, t.Beat)
	}()
	return func() { cancel(); <-done }
}

// leaseFunc runs fn while this instance holds the lease named purpose among the instances
// sharing a database (postgres.Store.Lease).
type leaseFunc func(ctx context.Context, purpose string, fn func(context.Context) error) error

// followTally keeps the books' view of the payment streams up to date until ctx ends,
// going on from where it stopped after a failure.
func followTally(ctx context.Context, t *books.Tally, store kafkaStore, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := t.Run(ctx, store); err != nil && ctx.Err() == nil {
			log.Error("books: following the payment streams; going on", "err", err, "backoff", backoff)
		}
		kafka.Sleep(ctx, backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
}

// startupTimeout bounds each wait of the downstream's start-up.
const startupTimeout = 30 * time.Second

// recoverCrashed closes the transactions the in-process broker found open in its data
// directory — a crash cut them off — as a real broker would: completed where they had
// committed in another partition (kfake writes commit markers one partition at a time),
// aborted otherwise, with the markers its recovery leaves out (see
// kafka.RecoverCrashed). Run before any client produces.
func recoverCrashed(ctx context.Context, brokers []string, log *slog.Logger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	done, err := kafka.RecoverCrashed(ctx, cl)
	if err != nil {
		return err
	}
	if done.Aborted > 0 {
		log.Warn("in-process kafka: closed the transactions a crash left open", "partitions", done.Aborted,
			"completed_partitions", done.Completed, "reappended_records", done.Reappended)
	}
	return nil
}

// supervise runs a downstream component under kafka.Supervise, reporting each failure on t
// (stalled until the restarted run beats).
func supervise(ctx context.Context, log *slog.Logger, t *progress.Tracker, run func(context.Context) error) {
	_ = kafka.Supervise(ctx, log, t.Stopped, run)
}
