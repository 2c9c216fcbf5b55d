// Package migrate applies a package's embedded, numbered SQL migrations to its own
// PostgreSQL schema.
//
// Migrations are files named NNNN_what.sql in a directory of an fs.FS (usually an embed.FS);
// "__S__" in them stands for the schema, so one package can live in several schemas (tests,
// rebuilds). Invariants: migrations apply in version order, each at most once, all pending
// ones in one transaction; concurrent Apply calls for one schema (several instances
// starting together) serialise on an advisory lock; the applied versions are recorded in
// <schema>.schema_migrations.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaName is what Apply accepts as a schema: it is spliced into SQL, so nothing else.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// ErrBadSchema: the schema name is not lower-case letters, digits and '_' (at most 41).
var ErrBadSchema = errors.New("bad schema name")

// Apply runs every migration in dir of files newer than the schema's recorded version. A
// schema name that could not be spliced into SQL safely fails with ErrBadSchema before
// anything is sent.
func Apply(ctx context.Context, pool *pgxpool.Pool, files fs.FS, dir, schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("migrate %q: %w", schema, ErrBadSchema)
	}
	names, err := fs.Glob(files, path.Join(dir, "*.sql"))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	slices.Sort(names)
	q := func(sql string) string { return strings.ReplaceAll(sql, "__S__", schema) }
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", schema, err)
	}
	if _, err := tx.Exec(ctx, q(`CREATE SCHEMA IF NOT EXISTS __S__;
		CREATE TABLE IF NOT EXISTS __S__.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	var current int
	if err := tx.QueryRow(ctx, q("SELECT coalesce(max(version), 0) FROM __S__.schema_migrations")).Scan(&current); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	for _, f := range names {
		name := path.Base(f)
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate %s: %s: name must start with a version number", schema, name)
		}
		if version <= current {
			continue
		}
		sql, err := fs.ReadFile(files, f)
		if err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schema, name, err)
		}
		if _, err := tx.Exec(ctx, q(string(sql))); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schema, name, err)
		}
		if _, err := tx.Exec(ctx, q("INSERT INTO __S__.schema_migrations (version, name) VALUES ($1, $2)"), version, name); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schema, name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", schema, err)
	}
	return nil
}

// lockKey is the advisory lock that serialises migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("paystream.migrate." + schema))
	return int64(h.Sum64())
}
