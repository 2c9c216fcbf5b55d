package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Options configure Start. The zero value is a server on a free port of 127.0.0.1.
type Options struct {
	// Addr is the listen address; empty means "127.0.0.1:0" (a free port).
	Addr string
	// ServerVersion is what ServerFeatures reports; empty means "24.10.0".
	ServerVersion string
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	db   *db

	mu          sync.Mutex
	addr        string
	grpc        *grpc.Server
	lis         *trackingListener
	quit        chan struct{} // closed when the current generation stops
	faults      chan struct{} // closed while unavailable
	unavailable bool
	stopped     bool
}

// Start listens on opts.Addr and serves until Stop. It returns an error if it cannot listen.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = "24.10.0"
	}
	s := &Server{opts: opts, db: newDB(), faults: make(chan struct{})}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("esdbtest: listen %s: %w", opts.Addr, err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// serve starts a generation of the gRPC server on ln. Callers hold s.mu or own s.
func (s *Server) serve(ln net.Listener) {
	s.lis = &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	s.quit = make(chan struct{})
	g := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if s.isUnavailable() {
				return nil, errUnavailable
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if s.isUnavailable() {
				return errUnavailable
			}
			return h(srv, ss)
		}),
	)
	streams.RegisterStreamsServer(g, &streamsService{srv: s, db: s.db, quit: s.quit})
	serverfeatures.RegisterServerFeaturesServer(g, &featuresService{version: s.opts.ServerVersion})
	gossip.RegisterGossipServer(g, &gossipService{srv: s})
	s.grpc = g
	go func() { _ = g.Serve(s.lis) }()
}

var errUnavailable = status.Error(codes.Unavailable, "esdbtest: server unavailable (fault injected)")

// Addr is the host:port the server listens on; it stays the same across Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is an insecure connection string for the server: esdb://127.0.0.1:PORT?tls=false.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// DiscoverURL is the same server as a one-seed cluster (gossip discovery):
// esdb+discover://127.0.0.1:PORT?tls=false.
func (s *Server) DiscoverURL() string { return "esdb+discover://" + s.Addr() + "?tls=false" }

// Stop stops the server for good: connections are closed, running calls end. Stopping
// again does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.halt()
}

// halt stops the current generation. Callers hold s.mu.
func (s *Server) halt() {
	close(s.quit)
	s.grpc.Stop()
}

// Restart stops the server, as if its process were killed, and starts it again on the
// same address with the same data. Clients see their connections and subscriptions end.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("esdbtest: restart: server stopped")
	}
	s.halt()
	var (
		ln  net.Listener
		err error
	)
	// The port was just released; the kernel may take a moment to let go of it.
	for range 100 {
		if ln, err = net.Listen("tcp", s.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.stopped = true
		return fmt.Errorf("esdbtest: restart: listen %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// DropConnections closes every open client connection, as a network failure would. The
// server keeps listening: clients reconnect.
func (s *Server) DropConnections() {
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()
	lis.dropAll()
}

// SetUnavailable makes the server answer every call with codes.Unavailable (on) and
// ends running subscriptions with it, or serve normally again (off).
func (s *Server) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on == s.unavailable {
		return
	}
	s.unavailable = on
	if on {
		close(s.faults)
	} else {
		s.faults = make(chan struct{})
	}
}

func (s *Server) isUnavailable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unavailable
}

// faultChan is closed when the server becomes unavailable.
func (s *Server) faultChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// trackingListener remembers accepted connections so that they can be dropped.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) dropAll() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
