package esdbtest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Options configure Start. The zero value is a single insecure node on a free port of
// 127.0.0.1 that behaves like a fixed, current server (DefaultVersion).
type Options struct {
	// Addr is the listen address; empty means "127.0.0.1:0" (a free port).
	Addr string
	// ServerVersion is what ServerFeatures reports, and selects the behaviour of the
	// versions with known defects (see Version); empty means DefaultVersion.
	ServerVersion string
	// MaxAppendSize is the server's limit on one append, counted as the server does (data,
	// custom metadata and twice the type's length per event); 0 means 1 MiB, the default of
	// every server version.
	MaxAppendSize int
	// CommitTimeout is how long an append waits for replication before the server gives up
	// on it with Aborted ("commit timeout"; the write may still land); 0 means 2 s, the
	// server's default.
	CommitTimeout time.Duration
	// Users turns access control on (name → password): a call that carries credentials
	// must name one of them (else Unauthenticated), and reading or subscribing to $all
	// needs a user listed in Admins (else PermissionDenied, trailer exception:
	// access-denied), as $all's default ACL does. Anonymous calls may use user streams.
	// The v4 client sends credentials only over TLS: set TLS too.
	Users  map[string]string
	Admins []string
	// TLS serves over TLS with a throwaway self-signed certificate for 127.0.0.1; connect
	// with tlsVerifyCert=false (URL does).
	TLS bool
}

// DefaultVersion is the version an emulator claims unless told otherwise: one with both
// filtered-$all checkpoint defects fixed (KDB-710 in 24.10.5, KDB-744 in 25.0.1).
const DefaultVersion = "24.10.5"

// Role is a node's state as gossip reports it.
type Role int

const (
	// Leader serves everything.
	Leader Role = iota
	// Follower serves reads locally, forwards writes to the leader, and answers a call
	// that carries requires-leader: true with NotLeader (gRPC NotFound, trailers
	// exception: not-leader, leader-endpoint-host, leader-endpoint-port).
	Follower
	// NotReady answers every Streams call with Unavailable "Server Is Not Ready" (a node
	// starting, or a cluster electing a leader).
	NotReady
)

// Request is one call the server received, as recorded for specs.
type Request struct {
	Method         string      // e.g. "/event_store.client.streams.Streams/Append"
	Header         metadata.MD // the request headers as they arrived
	RequiresLeader bool        // header requires-leader: true
	User           string      // from basic credentials; "" when none were sent
}

// Server is a running emulator node. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	version Version
	db      *db
	cluster *Cluster // nil for a single node
	tls     *tls.Config

	mu          sync.Mutex
	addr        string
	grpc        *grpc.Server
	lis         *trackingListener
	quit        chan struct{} // closed when the current generation stops
	faults      chan struct{} // closed while unavailable
	unavailable bool
	subsDown    chan struct{} // closed while subscriptions are refused
	notReady    bool
	stalled     chan struct{} // non-nil while stalled; closed when it ends
	stopped     bool
	requests    []Request
	lostReplies []codes.Code // answers for the next appends, which are written anyway
	live        atomic.Int64 // subscriptions that have caught up and not ended
}

// LiveSubscriptions is the number of subscriptions that have caught up (sent caught_up)
// and are still running: what a spec waits for before it writes "live" events.
func (s *Server) LiveSubscriptions() int { return int(s.live.Load()) }

// Start listens on opts.Addr and serves until Stop. It returns an error if it cannot
// listen or opts.ServerVersion does not parse.
func Start(opts Options) (*Server, error) {
	return start(opts, nil, nil)
}

func start(opts Options, shared *db, cluster *Cluster) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = DefaultVersion
	}
	if opts.MaxAppendSize == 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.CommitTimeout == 0 {
		opts.CommitTimeout = 2 * time.Second
	}
	v, err := ParseVersion(opts.ServerVersion)
	if err != nil {
		return nil, err
	}
	if shared == nil {
		shared = newDB()
	}
	s := &Server{opts: opts, version: v, db: shared, cluster: cluster, faults: make(chan struct{}), subsDown: make(chan struct{})}
	if opts.TLS {
		if s.tls, err = selfSigned(); err != nil {
			return nil, err
		}
	}
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
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := s.admit(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := s.admit(ss.Context(), info.FullMethod)
			if err != nil {
				if info.IsClientStream {
					// Let the client finish sending before refusing, as the server's append
					// does (it reads the request before deciding): a refusal mid-send reaches
					// the v4 client as its own "EOF" on sending instead of this status.
					for ss.RecvMsg(new(emptypb.Empty)) == nil {
					}
				}
				return err
			}
			return h(srv, &callStream{ServerStream: ss, ctx: ctx})
		}),
	}
	if s.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls)))
	}
	g := grpc.NewServer(opts...)
	streams.RegisterStreamsServer(g, &streamsService{srv: s, db: s.db, quit: s.quit})
	serverfeatures.RegisterServerFeaturesServer(g, &featuresService{version: s.opts.ServerVersion})
	gossip.RegisterGossipServer(g, &gossipService{srv: s})
	s.grpc = g
	go func() { _ = g.Serve(s.lis) }()
}

// callStream carries the context admit made (with the caller's user) into a handler.
type callStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *callStream) Context() context.Context { return c.ctx }

type userKey struct{}

// admit records a call, authenticates it, and applies faults and the node's role: what a
// real node decides before it looks at the request.
func (s *Server) admit(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	req := Request{Method: method, Header: md.Copy(), RequiresLeader: slices.Contains(md.Get("requires-leader"), "true")}
	user, authErr := s.authenticate(md)
	req.User = user
	s.mu.Lock()
	s.requests = append(s.requests, req)
	unavailable, notReady, stalled := s.unavailable, s.notReady, s.stalled
	s.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled:
		case <-ctx.Done():
			return ctx, status.FromContextError(ctx.Err()).Err()
		}
	}
	if unavailable {
		return ctx, errUnavailable
	}
	if authErr != nil {
		return ctx, authErr
	}
	if !strings.HasPrefix(method, "/event_store.client.streams.") {
		return ctx, nil // server features and gossip answer in every role
	}
	role, leader := s.Role()
	switch {
	case notReady || role == NotReady:
		return ctx, status.Error(codes.Unavailable, "Server Is Not Ready")
	case role == Follower && req.RequiresLeader:
		host, port, _ := net.SplitHostPort(leader)
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "not-leader",
			"leader-endpoint-host", host, "leader-endpoint-port", port))
		return ctx, status.Error(codes.NotFound, "Leader info available")
	}
	return context.WithValue(ctx, userKey{}, user), nil
}

// authenticate returns the user named by basic credentials ("" for none), or
// Unauthenticated when access control is on and they do not match.
func (s *Server) authenticate(md metadata.MD) (string, error) {
	auth := md.Get("authorization")
	if len(auth) == 0 {
		return "", nil
	}
	raw, ok := strings.CutPrefix(auth[0], "Basic ")
	if !ok {
		return "", status.Error(codes.Unauthenticated, "esdbtest: unsupported authorization scheme")
	}
	decoded, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, "esdbtest: malformed basic credentials")
	}
	name, password, _ := strings.Cut(string(decoded), ":")
	if s.opts.Users != nil && s.opts.Users[name] != password {
		return name, status.Error(codes.Unauthenticated, "Bad Credentials")
	}
	return name, nil
}

// mayReadAll reports whether the call's user may read $all.
func (s *Server) mayReadAll(ctx context.Context) bool {
	if s.opts.Users == nil {
		return true
	}
	user, _ := ctx.Value(userKey{}).(string)
	return user != "" && slices.Contains(s.opts.Admins, user)
}

// Requests returns every call received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Version is what the server claims to be.
func (s *Server) Version() Version { return s.version }

// Role is the node's current role and the leader's address (empty when there is none).
// A single node is its own leader unless SetNotReady.
func (s *Server) Role() (Role, string) {
	if s.cluster != nil {
		return s.cluster.roleOf(s)
	}
	return Leader, s.Addr()
}

// SetNotReady makes the node answer every Streams call with Unavailable "Server Is Not
// Ready" (on), as a starting node does, or serve again (off).
func (s *Server) SetNotReady(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notReady = on
}

// SetStalled makes the node accept calls and not answer them (on) until they end or it is
// set off: a node hung in a long pause or behind a black-holing network. Every service
// stalls, server features and gossip included, so a client discovering it waits its full
// gossip timeout.
func (s *Server) SetStalled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.stalled == nil:
		s.stalled = make(chan struct{})
	case !on && s.stalled != nil:
		close(s.stalled)
		s.stalled = nil
	}
}

// SetReplicationDelay makes every later write wait d before it is replicated: until then
// it is invisible to reads and subscriptions, its append has no answer (after
// CommitTimeout it gets Aborted, though the write still lands), and a retry of the same
// event ids is refused with Aborted too (the server's IdempotentNotReady). 0 turns it off
// for later writes.
func (s *Server) SetReplicationDelay(d time.Duration) { s.db.setReplicationDelay(d) }

// LoseAppendReplies makes the next len(codes) appends land and then answers each with
// the next code instead of success (Unavailable: the connection dropped; DeadlineExceeded:
// the answer came too late; Aborted: a commit timeout).
func (s *Server) LoseAppendReplies(cs ...codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lostReplies = append(s.lostReplies, cs...)
}

// lostReply pops the code the next append answers with, if one was asked for.
func (s *Server) lostReply() (codes.Code, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lostReplies) == 0 {
		return codes.OK, false
	}
	c := s.lostReplies[0]
	s.lostReplies = s.lostReplies[1:]
	return c, true
}

var errUnavailable = status.Error(codes.Unavailable, "esdbtest: server unavailable (fault injected)")

// Addr is the host:port the server listens on; it stays the same across Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is a connection string for the server: esdb://127.0.0.1:PORT?tls=false, or with
// TLS esdb://127.0.0.1:PORT?tlsVerifyCert=false.
func (s *Server) URL() string { return "esdb://" + s.Addr() + s.query() }

// UserURL is URL with credentials.
func (s *Server) UserURL(user, password string) string {
	return "esdb://" + url.UserPassword(user, password).String() + "@" + s.Addr() + s.query()
}

// DiscoverURL is the same server as a one-seed cluster (gossip discovery):
// esdb+discover://127.0.0.1:PORT?tls=false.
func (s *Server) DiscoverURL() string { return "esdb+discover://" + s.Addr() + s.query() }

func (s *Server) query() string {
	if s.tls != nil {
		return "?tlsVerifyCert=false"
	}
	return "?tls=false"
}

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

// SetSubscriptionsDown ends running subscriptions with Unavailable and refuses new ones
// (on), while every other call is served: a subscriber cut off while writers carry on.
func (s *Server) SetSubscriptionsDown(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.subsDown:
		if !on {
			s.subsDown = make(chan struct{})
		}
	default:
		if on {
			close(s.subsDown)
		}
	}
}

// subsDownChan is closed while subscriptions are refused.
func (s *Server) subsDownChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subsDown
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
