// Package pgtest gives tests a real PostgreSQL: the server named by DATABASE_URL when the
// caller passes one, otherwise a throwaway cluster started from the Debian postgresql-15
// binaries (initdb and pg_ctl run as the postgres user when the process is root), one per
// test process, with a fresh database per caller.
//
// Invariants: a missing binary or a cluster that does not start is an error, never a skip
// (CI must fail, not pass silently); clusters listen on 127.0.0.1 on a free port with their
// socket in a short temporary directory, and Stop removes everything they wrote.
package pgtest
