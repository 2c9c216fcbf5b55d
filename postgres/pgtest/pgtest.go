package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options shape a throwaway cluster.
type Options struct {
	// Fsync keeps fsync on (for performance runs); functional tests leave it off.
	Fsync bool
}

// Cluster is a throwaway PostgreSQL server. Safe for concurrent use.
type Cluster struct {
	dir, bin string
	port     int
	cred     *syscall.Credential
	opts     Options
	url      string // admin URL (postgres database); for an external server, DATABASE_URL
	external bool
}

// Start initialises and starts a new cluster. It fails when the PostgreSQL server binaries
// cannot be found or the server does not start.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pg")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if c.port, err = freePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	if err := c.Restart(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// External wraps a server the caller runs (DATABASE_URL).
func External(databaseURL string) (*Cluster, error) {
	if _, err := pgx.ParseConfig(databaseURL); err != nil {
		return nil, fmt.Errorf("pgtest: DATABASE_URL: %w", err)
	}
	return &Cluster{url: databaseURL, external: true}, nil
}

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared returns the test process's cluster: External(databaseURL) when it is not empty,
// otherwise a throwaway cluster started on first use (fsync off). Call StopShared in
// AfterSuite.
func Shared(ctx context.Context, databaseURL string) (*Cluster, error) {
	sharedOnce.Do(func() {
		if databaseURL != "" {
			shared, sharedErr = External(databaseURL)
			return
		}
		shared, sharedErr = Start(ctx, Options{})
	})
	return shared, sharedErr
}

// Database creates a fresh database on the shared cluster (see Shared) and returns its
// connection string and a pool on it, which the caller closes. It is what a suite's
// BeforeSuite needs; its AfterSuite calls StopShared.
func Database(ctx context.Context, databaseURL string) (string, *pgxpool.Pool, error) {
	cluster, err := Shared(ctx, databaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: PostgreSQL is required (install postgresql-15 or set DATABASE_URL): %w", err)
	}
	url, err := cluster.NewDatabase(ctx)
	if err != nil {
		return "", nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: %w", err)
	}
	return url, pool, nil
}

// Schema returns prefix_<10 random hex digits>: a schema no other spec uses.
func Schema(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// StopShared stops the shared cluster if one was started.
func StopShared(ctx context.Context) error {
	if shared == nil {
		return nil
	}
	return shared.Stop(ctx)
}

// URL is the connection string of the cluster's postgres database.
func (c *Cluster) URL() string { return c.url }

// NewDatabase creates an empty database and returns its connection string.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	u, err := url.Parse(c.url)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// StopImmediate kills the server the way a crash would (pg_ctl stop -m immediate).
func (c *Cluster) StopImmediate(ctx context.Context) error {
	if c.external {
		return errors.New("pgtest: cannot stop an external server")
	}
	return c.run(ctx, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}

// Restart starts the (stopped) server again on the same port.
func (c *Cluster) Restart(ctx context.Context) error {
	if c.external {
		return errors.New("pgtest: cannot start an external server")
	}
	fsync := "off"
	if c.opts.Fsync {
		fsync = "on"
	}
	o := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=%s -c max_connections=200", c.port, c.dir, fsync)
	return c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-o", o, "start")
}

// Stop stops the server and removes its files; an external server is left alone.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.external {
		return nil
	}
	err := c.run(ctx, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop")
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", name, err, out)
	}
	return nil
}

// binDir finds the directory of initdb and pg_ctl: PATH first, then Debian's layout.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "pg_ctl")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	for _, m := range matches {
		if strings.Contains(m, "/15/") {
			return filepath.Dir(m), nil
		}
	}
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("pgtest: PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql-15, or set DATABASE_URL")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
