package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	pgconfig "github.com/paystream/paystream/postgres"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	rmpebble "github.com/paystream/paystream/projections/pebble"
	"github.com/paystream/paystream/projections/postgres"
)

// readModels are paymentd's read models, kept up to date by a projector: PostgreSQL when
// DATABASE_URL is set; otherwise, with a data directory, a Pebble database in its readmodel
// directory, which the projector resumes from its checkpoint; otherwise memory, rebuilt
// from position 0 at every start.
type readModels struct {
	store      projections.Store
	pg         *postgres.Store // nil unless DATABASE_URL
	disk       *rmpebble.Store // nil unless a data directory without DATABASE_URL
	pool       *pgxpool.Pool
	projector  *projections.Projector
	events     eventStore
	log        *slog.Logger
	written    atomic.Uint64 // newest position this instance appended
	stop       context.CancelFunc
	done       chan struct{}
	rebuilding atomic.Bool
}

// databaseProblems validates DATABASE_URL for LoadConfig (never echoing it: it may hold a
// password).
func databaseProblems(cfg Config) []string {
	if cfg.DatabaseURL == "" {
		return nil
	}
	if !pgconfig.ValidConnString(cfg.DatabaseURL) {
		return []string{"DATABASE_URL: not a PostgreSQL connection string such as postgres://user:pass@host:5432/paystream?sslmode=disable"}
	}
	return nil
}

// startReadModels opens the read models and starts their projector.
func startReadModels(ctx context.Context, cfg Config, events eventStore, log *slog.Logger) (*readModels, error) {
	rm := &readModels{events: events, log: log, done: make(chan struct{})}
	switch {
	case cfg.DatabaseURL == "" && cfg.DataDir != "":
		disk, err := openDiskReadModel(ctx, filepath.Join(cfg.DataDir, readModelDir), events, log)
		if err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR %s: %w", cfg.DataDir, err)
		}
		rm.store, rm.disk = disk, disk
	case cfg.DatabaseURL == "":
		rm.store = memory.New()
	default:
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, storeConnectTimeout)
		defer cancel()
		pg, err := postgres.Open(cctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		rm.store, rm.pg, rm.pool = pg, pg, pool
	}
	rm.projector = projections.NewProjector(events, rm.store, projections.Options{Logger: log})
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	rm.stop = stop
	go func() { defer close(rm.done); _ = rm.projector.Run(pctx) }()
	return rm, nil
}

// readModelDir is the directory, in the data directory, of the read models when
// DATABASE_URL is not set.
const readModelDir = "readmodel"

// openDiskReadModel opens the Pebble read model in dir, so that the projector resumes from
// its checkpoint. A read model that does not match the event store is removed and rebuilt
// from position 0 (logged once): one this version cannot read, or one whose checkpoint is
// not an event of the store, because the store is behind it (its files were replaced by an
// older copy) or holds other events. Serving it would show payments the store does not have
// and wait for positions it already passed.
func openDiskReadModel(ctx context.Context, dir string, events eventstore.Store, log *slog.Logger) (*rmpebble.Store, error) {
	s, err := rmpebble.Open(dir)
	var reason string
	switch {
	case errors.Is(err, rmpebble.ErrIncompatible):
		reason = err.Error()
	case err != nil:
		return nil, err
	default:
		mark := s.CheckpointMark()
		held, err := holds(ctx, events, mark)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("check the read model's checkpoint against the event store: %w", err)
		}
		if held {
			return s, nil
		}
		reason = fmt.Sprintf("its checkpoint, position %d (%s), is not an event of the event store", mark.Position, mark.Stream)
		if err := s.Close(); err != nil {
			return nil, err
		}
	}
	log.Warn("read model does not match the event store: removing it and rebuilding it from position 0", "dir", dir, "reason", reason)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove the read model: %w", err)
	}
	return rmpebble.Open(dir)
}

// holds reports whether the event store holds the event a read model's checkpoint stands
// at, at that position (a checkpoint of 0 stands at none).
func holds(ctx context.Context, events eventstore.Store, m rmpebble.Mark) (bool, error) {
	if m.Position == 0 {
		return true, nil
	}
	stream, err := events.ReadStream(ctx, m.Stream)
	if err != nil {
		return false, err
	}
	for _, e := range stream {
		if e.Position == m.Position {
			return e.ID == m.EventID, nil
		}
	}
	return false, nil
}

// lease is the PostgreSQL read models' lease among instances (nil otherwise: one
// instance).
func (rm *readModels) lease() leaseFunc {
	if rm.pg == nil {
		return nil
	}
	return rm.pg.Lease
}

// close stops the projector and closes the pool or the Pebble database.
func (rm *readModels) close() {
	rm.stop()
	<-rm.done
	if rm.pool != nil {
		rm.pool.Close()
	}
	if rm.disk != nil {
		if err := rm.disk.Close(); err != nil {
			rm.log.Error("close the read model", "err", err)
		}
	}
}

func (rm *readModels) mode() string {
	switch {
	case rm.pg != nil:
		return "postgres"
	case rm.disk != nil:
		return "pebble"
	}
	return "memory"
}

// lastWritten is the newest position this instance appended (httpapi's read-your-writes).
func (rm *readModels) lastWritten() eventstore.Position {
	return eventstore.Position(rm.written.Load())
}

// track wraps the event store so appends record their position.
func (rm *readModels) track(s eventStore) eventStore { return &trackingStore{eventStore: s, rm: rm} }

type trackingStore struct {
	eventStore
	rm *readModels
}

func (t *trackingStore) Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	res, err := t.eventStore.Append(ctx, stream, expected, events)
	// Only payment streams: the read models follow nothing else (idempotency keys, the
	// webhook inbox, anchors), so their checkpoint would never reach another stream's
	// position and every read would wait for it in vain.
	if _, payment := aggregate.OrderIDOf(stream); err == nil && payment {
		for {
			cur := t.rm.written.Load()
			if uint64(res.Position) <= cur || t.rm.written.CompareAndSwap(cur, uint64(res.Position)) {
				break
			}
		}
	}
	return res, err
}

// withAdmin serves the read model's operator endpoints under /admin/v1/readmodel/ and
// everything else with next. paymentctl calls them: they run inside paymentd because
// paymentd owns the event store (the embedded data directory is locked by it).
func (rm *readModels) withAdmin(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("GET /admin/v1/readmodel/status", rm.status)
	mux.HandleFunc("POST /admin/v1/readmodel/verify", rm.verify)
	mux.HandleFunc("POST /admin/v1/readmodel/rebuild", rm.rebuild)
	return mux
}

type statusView struct {
	Mode       string                      `json:"mode"`
	Healthy    bool                        `json:"healthy"`
	Projector  projections.ProjectorStatus `json:"projector"`
	Checkpoint uint64                      `json:"checkpoint"`
	// Head is the newest position this instance appended (with one paymentd, the store's
	// head) and Behind how far the checkpoint trails it (0 when caught up): the projection
	// lag that paymentctl lag samples.
	Head        uint64                   `json:"head"`
	Behind      uint64                   `json:"behind"`
	DeadLetters []projections.DeadLetter `json:"deadLetters"`
}

func (rm *readModels) status(w http.ResponseWriter, r *http.Request) {
	st := rm.projector.Status()
	v := statusView{Mode: rm.mode(), Healthy: st.Err == "", Projector: st}
	cp, err := rm.store.Checkpoint(r.Context())
	if err != nil {
		v.Healthy, v.Projector.Err = false, err.Error()
	}
	v.Checkpoint, v.Head = uint64(cp), uint64(rm.lastWritten())
	if v.Head > v.Checkpoint {
		v.Behind = v.Head - v.Checkpoint
	}
	if v.DeadLetters, err = rm.store.DeadLetters(r.Context()); err != nil {
		v.Healthy = false
	}
	code := http.StatusOK
	if !v.Healthy {
		code = http.StatusServiceUnavailable
	}
	adminJSON(w, code, v)
}

// longRunning lifts the server's write timeout for an operator request that may take
// minutes (verify, rebuild); it still ends when the operator hangs up (r.Context()).
func longRunning(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

func (rm *readModels) verify(w http.ResponseWriter, r *http.Request) {
	longRunning(w)
	rep, err := projections.Verify(r.Context(), rm.events, rm.store)
	if err != nil {
		rm.log.Error("read model verify failed", "err", err)
		adminJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if len(rep.Drift) > 0 {
		rm.log.Error("read model drift found", "payments", len(rep.Drift), "alert", true)
	}
	adminJSON(w, http.StatusOK, rep)
}

// rebuild streams progress lines ("rebuilt <n> of <live>") and ends with "done <position>"
// or "error: …".
func (rm *readModels) rebuild(w http.ResponseWriter, r *http.Request) {
	switch {
	case rm.disk != nil:
		adminJSON(w, http.StatusConflict, map[string]string{"error": "the data directory's read models are rebuilt at start when they do not " +
			"match the event store; to rebuild them anyway, stop paymentd and remove its " + readModelDir + " directory"})
		return
	case rm.pg == nil:
		adminJSON(w, http.StatusConflict, map[string]string{"error": "memory read models are rebuilt at every start; nothing to do"})
		return
	}
	if !rm.rebuilding.CompareAndSwap(false, true) {
		adminJSON(w, http.StatusConflict, map[string]string{"error": "a rebuild is already running"})
		return
	}
	defer rm.rebuilding.Store(false)
	longRunning(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	last := time.Time{}
	at, err := rm.pg.Rebuild(r.Context(), rm.events, rm.log, func(rebuilt, live eventstore.Position) {
		if time.Since(last) >= 500*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(w, "rebuilt %d of %d\n", rebuilt, live)
			flush()
		}
	})
	if err != nil {
		rm.log.Error("read model rebuild failed", "err", err)
		fmt.Fprintf(w, "error: %v\n", err)
		return
	}
	rm.log.Info("read model rebuilt", "checkpoint", uint64(at))
	fmt.Fprintf(w, "done %d\n", at)
}

func adminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
