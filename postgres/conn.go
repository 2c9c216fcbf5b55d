// Package postgres holds what paystream's PostgreSQL adapters share: the connection-string
// check every binary applies to DATABASE_URL (migrate/ runs schema migrations; pgtest/ gives
// specs a real database).
package postgres

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// ValidConnString reports whether s is a connection string pgx accepts, as a postgres:// URL
// or key=value pairs. Callers report a bad one by the variable's name, never echoing it: it
// may hold a password.
func ValidConnString(s string) bool {
	if _, err := pgx.ParseConfig(s); err != nil {
		return false
	}
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "=")
}
