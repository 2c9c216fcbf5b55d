package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystream/paystream/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
}

// WithLogger sets the logger for reconnects and resubscriptions (and the client's own
// messages, at debug level). By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithResubscribeBackoff bounds the wait between attempts to resubscribe a dropped Follow:
// it starts at min and doubles up to max. The default is 50 ms to 2 s.
func WithResubscribeBackoff(min, max time.Duration) Option {
	return func(o *options) {
		if min > 0 && max >= min {
			o.minBackoff, o.maxBackoff = min, max
		}
	}
}

// ErrAccessDenied: the server refused the credentials' user something paystream needs,
// reading $all above all (it needs a member of $admins, or an ACL that grants $all read).
// Open and Follow fail with it at once instead of retrying: it does not heal by waiting.
var ErrAccessDenied = errors.New("eventstoredb: access denied")

// Store is an eventstore.Store backed by EventStoreDB. Safe for concurrent use.
//
// The v4 client has hazards under concurrent use that the Store works around: closing a
// client while another goroutine starts an operation on it panics; once a client's
// rediscovery fails it stops serving its request channel, so an operation that raced into
// it blocks for ever; and while it rediscovers, every operation waits for it, ignoring its
// context. Hence a client is discovered by one goroutine before anyone else uses it, is
// retired (never used again) after any error that makes it rediscover, and is closed only
// when its last operation has returned; and every operation runs on its own goroutine, so
// the caller gets its context's error as soon as the context ends: a client operation that
// has not returned by then is abandoned and its client retired (never closed: closing it
// under the stuck operation would panic).
type Store struct {
	opts    options
	conf    esdb.Configuration // template for every client the Store creates
	version esdb.ServerVersion // what the server said at Open
	// trustCheckpoints is false on server versions whose filtered $all checkpoints are
	// known to be wrong: Follow then resumes only from events it delivered.
	trustCheckpoints bool

	closing context.Context // cancelled by Close: ends running follows
	close   context.CancelFunc

	mu         sync.Mutex
	conn       *conn         // the client in use; nil when none is ready
	connecting chan struct{} // closed when the discovery under way ends
	connectErr error         // of the last failed discovery
	closed     bool
}

// conn is one client and the operations using it.
type conn struct {
	client  *esdb.Client
	users   int  // operations in flight; guarded by Store.mu
	retired bool // no new operations; closed once users reaches 0
}

// Open parses connString (esdb://…, esdb+discover://…) and connects to the server, so
// that a wrong address fails here rather than at the first append. It returns a parse
// error for a malformed connection string, or the last connection error, wrapped, if the
// server cannot be reached before ctx ends.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	o := options{logger: slog.New(slog.DiscardHandler), minBackoff: 50 * time.Millisecond, maxBackoff: 2 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	conf, err := ParseURL(connString)
	if err != nil {
		return nil, err
	}
	log := o.logger
	conf.Logger = func(level esdb.LogLevel, format string, args ...any) {
		log.Debug("eventstoredb client", "level", level, "msg", fmt.Sprintf(format, args...))
	}
	if conf.DisableTLS && conf.Username != "" {
		log.Warn("eventstoredb credentials are not sent without TLS: the client drops them and every call is anonymous; use TLS or remove them from EVENTSTORE_URL",
			"address", conf.Address)
	}
	s := &Store{opts: o, conf: *conf, trustCheckpoints: true}
	s.closing, s.close = context.WithCancel(context.Background())
	if err := s.ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open eventstoredb %s: %w", conf.Address, err)
	}
	s.checkVersion()
	if err := s.probeAll(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open eventstoredb %s: %w", conf.Address, err)
	}
	return s, nil
}

// ServerVersion is the version the server reported at Open, e.g. "24.10.5" ("0.0.0" for
// a server too old to say).
func (s *Store) ServerVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d.%d.%d", s.version.Major, s.version.Minor, s.version.Patch)
}

// CheckpointDefect names the known defect of a server version's filtered $all checkpoints,
// or "" for a version without one: KDB-710 (24.2.0–24.10.4: a subscription from the start
// that matches nothing during catch-up gets the checkpoint (-1,-1), read as MaxUint64),
// KDB-744 (25.0.0: a checkpoint of (end of log, 0), the commit position of the next event).
// Both are fixed in 24.10.5 and 25.0.1.
func CheckpointDefect(major, minor, patch int) string {
	v := major*1_000_000 + minor*1_000 + patch
	switch {
	case v >= 24_002_000 && v <= 24_010_004:
		return "KDB-710"
	case v == 25_000_000:
		return "KDB-744"
	}
	return ""
}

// checkVersion warns about a server version with defective checkpoints and stops Follow
// from trusting them. Follow is correct either way (it never takes a checkpoint for a
// delivered event); trusting them only saves rescanning after a resubscribe.
func (s *Store) checkVersion() {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	version := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if defect := CheckpointDefect(v.Major, v.Minor, v.Patch); defect != "" {
		s.trustCheckpoints = false
		s.opts.logger.Warn("eventstoredb server version has defective filtered $all checkpoints; checkpoints are ignored (upgrade to 24.10.5+ or 25.0.1+)",
			"server_version", version, "defect", defect)
		return
	}
	if v == (esdb.ServerVersion{}) {
		s.opts.logger.Warn("eventstoredb server did not report its version; supported are 24.10.5+ and 25.0.1+", "address", s.conf.Address)
		return
	}
	s.opts.logger.Info("eventstoredb connected", "address", s.conf.Address, "server_version", version)
}

// probeAll reads the last event of $all, as every Follow will need to: a user that may
// not read $all fails here with ErrAccessDenied rather than in an endless resubscribe.
func (s *Store) probeAll(ctx context.Context) error {
	err := s.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		if _, err := rs.Recv(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	})
	if isAccessDenied(err) {
		return fmt.Errorf("read $all: %w: the user of EVENTSTORE_URL may not read $all (it needs to be in $admins, or an ACL that grants $all read)", ErrAccessDenied)
	}
	if err != nil {
		return fmt.Errorf("read $all: %w", err)
	}
	return nil
}

func isAccessDenied(err error) bool {
	var e *esdb.Error
	return (errors.As(err, &e) && e.Code() == esdb.ErrorCodeAccessDenied) || status.Code(errors.Unwrap(err)) == codes.PermissionDenied
}

// ParseURL checks an EventStoreDB connection string and returns the client configuration
// it describes. The error does not repeat the string, which may hold a password.
func ParseURL(connString string) (*esdb.Configuration, error) {
	if !strings.HasPrefix(connString, "esdb://") && !strings.HasPrefix(connString, "esdb+discover://") {
		return nil, errors.New("parse eventstoredb connection string: want esdb://host:port[?tls=false] or esdb+discover://host:port")
	}
	conf, err := esdb.ParseConnectionString(connString)
	if err != nil {
		var e *esdb.Error
		if errors.As(err, &e) && e.Err() != nil {
			err = e.Err()
		}
		return nil, fmt.Errorf("parse eventstoredb connection string: %s", redact(err.Error(), connString))
	}
	if conf.Address == "" && len(conf.GossipSeeds) == 0 {
		return nil, errors.New("parse eventstoredb connection string: no host")
	}
	return conf, nil
}

// redact removes the connection string's password from msg.
func redact(msg, connString string) string {
	if u, err := url.Parse(connString); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// ping waits until a client is connected, retrying with backoff until ctx ends.
func (s *Store) ping(ctx context.Context) error {
	backoff := s.opts.minBackoff
	for {
		cn, err := s.acquire(ctx)
		if err == nil {
			s.release(cn, nil)
			return nil
		}
		if errors.Is(err, eventstore.ErrClosed) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.maxBackoff)
	}
}

// Close retires the client (it is closed once running operations return) and ends
// running follows with ErrClosed. Safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.close()
	if s.conn != nil {
		s.retire(s.conn)
	}
	return nil
}

// acquire returns a connected client for one operation; release it afterwards. When no
// client is ready, one goroutine discovers the server with a fresh client while the
// others wait (or give up when ctx ends).
func (s *Store) acquire(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, eventstore.ErrClosed
		}
		if s.conn != nil {
			s.conn.users++
			cn := s.conn
			s.mu.Unlock()
			return cn, nil
		}
		wait := s.connecting
		if wait == nil {
			wait = make(chan struct{})
			s.connecting = wait
			go s.discover(wait)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", errNoClient, ctx.Err())
		case <-wait:
		}
		s.mu.Lock()
		err := s.connectErr
		ready := s.conn != nil || s.closed
		s.mu.Unlock()
		if !ready {
			return nil, fmt.Errorf("%w: %w", errNoClient, err)
		}
	}
}

// errNoClient marks a failure to get a connected client: nothing was sent.
var errNoClient = errors.New("no connected client")

// discover connects a fresh client: it is nobody else's until discovery succeeded, so a
// failed discovery (which closes the client for good) strands no operation.
func (s *Store) discover(done chan struct{}) {
	conf := s.conf
	client, err := esdb.NewClient(&conf)
	var version *esdb.ServerVersion
	if err == nil {
		version, err = client.GetServerVersion()
		if err != nil {
			_ = client.Close()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connecting = nil
	close(done)
	if err != nil {
		s.connectErr = fmt.Errorf("connect to %s: %w", s.conf.Address, err)
		s.opts.logger.Warn("eventstoredb unreachable", "address", s.conf.Address, "err", err)
		return
	}
	if s.closed {
		_ = client.Close()
		return
	}
	s.connectErr = nil
	s.conn = &conn{client: client}
	if version != nil {
		s.version = *version
	}
}

// release ends one operation on cn. An error that makes the client rediscover retires
// it: the next operation gets a freshly discovered client instead.
func (s *Store) release(cn *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && needsReconnect(err) && !cn.retired {
		s.opts.logger.Info("eventstoredb connection lost; reconnecting", "address", s.conf.Address, "err", err)
		s.retire(cn)
	}
	cn.users--
	if cn.retired && cn.users == 0 {
		_ = cn.client.Close()
	}
}

// hold adds a user to cn, which its holder already uses.
func (s *Store) hold(cn *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cn.users++
}

// retire stops handing out cn. Callers hold s.mu.
func (s *Store) retire(cn *conn) {
	if cn.retired {
		return
	}
	cn.retired = true
	if s.conn == cn {
		s.conn = nil
	}
	if cn.users == 0 {
		_ = cn.client.Close()
	}
}

// abandon retires cn after one of its operations failed to return when its context
// ended: the client is wedged (rediscovering, or stopped serving its channel).
func (s *Store) abandon(cn *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !cn.retired {
		s.opts.logger.Warn("eventstoredb client did not return after its context ended; retiring it", "address", s.conf.Address)
		s.retire(cn)
	}
}

// needsReconnect reports errors after which the client would rediscover the server (or
// has closed itself). NotLeader is not one: the client has already switched to the leader
// the server named, and the operation is retried on it.
func needsReconnect(err error) bool {
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed:
			return true
		}
	}
	return status.Code(errors.Unwrap(err)) == codes.Unavailable || status.Code(err) == codes.Unavailable
}

func isNotLeader(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == esdb.ErrorCodeNotLeader
}

const (
	// notLeaderRetries bounds how often one operation follows a NotLeader to the leader.
	notLeaderRetries = 3
	// abandonGrace is how long an operation whose context ended may take to return before
	// its client is taken for wedged.
	abandonGrace = 100 * time.Millisecond
)

// requireLeader marks every call made with ctx requires-leader: true, so that a follower
// answers NotLeader (naming the leader) instead of serving a stale read or forwarding a
// write that may time out ambiguously. The v4 client's own option sets the header on the
// incoming context, so it never reaches the server.
func requireLeader(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// do runs op with a connected client, on the leader: a NotLeader answer (the client then
// reconnects to the leader the server named) is retried a few times. It returns when op
// does or, at the latest, abandonGrace after ctx ends, with ctx's error.
func (s *Store) do(ctx context.Context, op func(context.Context, *esdb.Client) error) error {
	ctx = requireLeader(ctx)
	for attempt := 0; ; attempt++ {
		cn, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		err = s.call(ctx, cn, func() error { return op(ctx, cn.client) })
		if isNotLeader(err) && attempt < notLeaderRetries && ctx.Err() == nil {
			s.opts.logger.Info("eventstoredb node is not the leader; retrying on the leader", "address", s.conf.Address)
			continue
		}
		return err
	}
}

// call runs f, an operation on cn, on its own goroutine and releases cn when f returns.
// It returns f's error, or ctx's if ctx ends and f does not return within abandonGrace
// (cn is then retired).
func (s *Store) call(ctx context.Context, cn *conn, f func() error) error {
	done := make(chan error, 1)
	go func() {
		err := f()
		s.release(cn, err)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	grace := time.NewTimer(abandonGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		return err
	case <-grace.C:
		s.abandon(cn)
		return fmt.Errorf("%w (the eventstoredb client did not return)", ctx.Err())
	}
}

// ReadStream returns every event of stream in revision order; an unknown stream gives an
// empty slice. Errors are the client's, wrapped, or eventstore.ErrClosed.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	var events []eventstore.RecordedEvent
	err := s.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		var err error
		events, err = readStream(ctx, c, stream)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return events, nil
}

func readStream(ctx context.Context, c *esdb.Client, stream string) ([]eventstore.RecordedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Start{}}, math.MaxInt64)
	if isNotFound(err) {
		return []eventstore.RecordedEvent{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	events := []eventstore.RecordedEvent{}
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if isNotFound(err) {
			return []eventstore.RecordedEvent{}, nil
		}
		if err != nil {
			return nil, err
		}
		if e := ev.OriginalEvent(); e != nil {
			events = append(events, recorded(e))
		}
	}
}

// isNotFound reports the server's stream_not_found answer. A gRPC NotFound status is not
// one: the client maps NotLeader without leader details to the same code, and taking that
// for an empty stream would hide a payment.
func isNotFound(err error) bool {
	var e *esdb.Error
	if !errors.As(err, &e) || e.Code() != esdb.ErrorCodeResourceNotFound {
		return false
	}
	_, isStatus := status.FromError(e.Err())
	return !isStatus
}

func recorded(e *esdb.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		Stream:     e.StreamID,
		Revision:   eventstore.Revision(e.EventNumber),
		Position:   eventstore.Position(e.Position.Commit),
		ID:         e.EventID,
		Type:       e.EventType,
		Data:       e.Data,
		Metadata:   e.UserMetadata,
		RecordedAt: e.CreatedDate.UTC(),
	}
}

// Append writes events after expected with an exact expected revision. It returns
// eventstore.ErrInvalidAppend for a malformed append (eventstore.ValidateAppend, or more
// than MaxAppendSize), eventstore.ErrConcurrency when the stream is elsewhere (unless this
// is a retry of events already written there: then it reports the original result),
// eventstore.ErrClosed, ErrAccessDenied, eventstore.ErrOutcomeUnknown when the append may
// or may not have been written, or the client's error, wrapped.
//
// An attempt that may have reached the server without a definite answer (a commit
// timeout, a deadline, a connection lost mid-call, a retry refused because the original is
// not yet replicated) is retried with the same event ids and expected revision, which the
// server recognises: it answers with the original result if the first attempt landed. Up
// to appendAttempts attempts are made while ctx lasts; if none is definite, Append fails
// with eventstore.ErrOutcomeUnknown and the caller must re-read the stream.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	if err := validate(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	var exp esdb.ExpectedRevision = esdb.NoStream{}
	if expected != eventstore.NoStream {
		exp = esdb.Revision(uint64(expected))
	}
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		data[i] = esdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: esdb.ContentTypeJson,
			Data: e.Data, Metadata: e.Metadata}
	}
	var sent bool // an attempt may have reached the server
	backoff := s.opts.minBackoff
	for attempt := 1; ; attempt++ {
		out, err := s.appendOnce(ctx, stream, expected, exp, data, events)
		switch {
		case err == nil:
			return out, nil
		case definite(err):
			return eventstore.AppendResult{}, fmt.Errorf("append %s at %d: %w", stream, expected, classify(err))
		}
		sent = sent || mayHaveSent(err)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		if attempt >= appendAttempts || ctx.Err() != nil || errors.Is(err, eventstore.ErrClosed) {
			if sent {
				return eventstore.AppendResult{}, fmt.Errorf("append %s at %d: %w (after %d attempts; re-read the stream): %w",
					stream, expected, eventstore.ErrOutcomeUnknown, attempt, err)
			}
			return eventstore.AppendResult{}, fmt.Errorf("append %s at %d: %w", stream, expected, err)
		}
		s.opts.logger.Info("eventstoredb append without a definite answer; retrying with the same event ids",
			"stream", stream, "revision", int64(expected), "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.maxBackoff)
	}
}

// appendAttempts bounds the attempts of one Append whose outcome stays unknown.
const appendAttempts = 5

func (s *Store) appendOnce(ctx context.Context, stream string, expected eventstore.Revision, exp esdb.ExpectedRevision, data []esdb.EventData, events []eventstore.Event) (eventstore.AppendResult, error) {
	var out eventstore.AppendResult
	err := s.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, data...)
		var e *esdb.Error
		switch {
		case err == nil && (res.CommitPosition == 0 || res.CommitPosition == math.MaxUint64):
			// An idempotent write may come back without a position: find the events.
			out, err = retried(ctx, c, stream, expected, events)
		case err == nil:
			out = eventstore.AppendResult{Revision: eventstore.Revision(res.NextExpectedVersion), Position: eventstore.Position(res.CommitPosition)}
		case errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion:
			out, err = retried(ctx, c, stream, expected, events)
		}
		return err
	})
	return out, err
}

// definite reports an answer that settles an append: it was not written (or, for the
// retry check, the stream said so).
func definite(err error) bool {
	if errors.Is(err, eventstore.ErrConcurrency) || isAccessDenied(err) {
		return true
	}
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeStreamDeleted, esdb.ErrorCodeUnauthenticated:
			return true
		}
		return status.Code(e.Err()) == codes.InvalidArgument
	}
	return false
}

// classify maps a definite error to the seam's vocabulary.
func classify(err error) error {
	var e *esdb.Error
	switch {
	case isAccessDenied(err):
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	case errors.As(err, &e) && status.Code(e.Err()) == codes.InvalidArgument:
		// The server's size limit (maximum-append-size-exceeded) or another refusal of the
		// append itself; the client reports it as an unknown error.
		return fmt.Errorf("%w: the server refused it: %w", eventstore.ErrInvalidAppend, err)
	}
	return err
}

// mayHaveSent reports whether a failed attempt may have reached the server: everything
// but failing to get a connected client at all.
func mayHaveSent(err error) bool {
	var e *esdb.Error
	if errors.As(err, &e) && e.Code() == esdb.ErrorCodeConnectionClosed {
		return false
	}
	return !errors.Is(err, errNoClient) && !errors.Is(err, eventstore.ErrClosed)
}

// retried decides a wrong expected version: if the events right after expected are
// exactly these (same ids, same order), the append already happened and its result is
// theirs; otherwise it is a concurrency conflict.
func retried(ctx context.Context, c *esdb.Client, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	stored, err := readStream(ctx, c, stream)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("check for a retried append: %w", err)
	}
	from := int(expected) + 1
	if from+len(events) > len(stored) {
		return eventstore.AppendResult{}, eventstore.ErrConcurrency
	}
	for i, e := range events {
		if stored[from+i].ID != e.ID {
			return eventstore.AppendResult{}, eventstore.ErrConcurrency
		}
	}
	last := stored[from+len(events)-1]
	return eventstore.AppendResult{Revision: last.Revision, Position: last.Position}, nil
}

// validate applies the rules every store shares, then the server's size limit.
func validate(stream string, expected eventstore.Revision, events []eventstore.Event) error {
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return err
	}
	if size := AppendSize(events); size > MaxAppendSize {
		return fmt.Errorf("%w: %d bytes as EventStoreDB counts them, more than its %d-byte limit", eventstore.ErrInvalidAppend, size, MaxAppendSize)
	}
	return nil
}

// MaxAppendSize is EventStoreDB's default limit on one append (MaxAppendSize, 1 MiB), as
// AppendSize counts it. Larger appends are refused before they are sent.
const MaxAppendSize = 1 << 20

// AppendSize is an append's size as EventStoreDB counts it against MaxAppendSize: for every
// event, data and custom metadata bytes plus twice the type's length (the server counts
// UTF-16 code units; this counts UTF-8 bytes, never fewer, so nothing it passes is refused).
func AppendSize(events []eventstore.Event) int {
	size := 0
	for _, e := range events {
		size += len(e.Data) + len(e.Metadata) + 2*len(e.Type)
	}
	return size
}
