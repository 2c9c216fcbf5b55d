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

// Store is an eventstore.Store backed by EventStoreDB. Safe for concurrent use.
//
// The v4 client has two hazards under concurrent use that the Store works around: closing
// a client while another goroutine starts an operation on it panics, and once a client's
// rediscovery fails it stops serving its request channel, so an operation that raced
// into it blocks for ever. Hence a client is discovered by one goroutine before anyone
// else uses it, is retired (never used again) after any error that makes it rediscover,
// and is closed only when its last operation has returned. A narrow window is left: an
// operation that starts on a client just as another operation's rediscovery fails can still
// block inside the client.
type Store struct {
	opts options
	conf esdb.Configuration // template for every client the Store creates

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
	s := &Store{opts: o, conf: *conf}
	s.closing, s.close = context.WithCancel(context.Background())
	if err := s.ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open eventstoredb %s: %w", conf.Address, err)
	}
	return s, nil
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
			return nil, ctx.Err()
		case <-wait:
		}
		s.mu.Lock()
		err := s.connectErr
		ready := s.conn != nil || s.closed
		s.mu.Unlock()
		if !ready {
			return nil, err
		}
	}
}

// discover connects a fresh client: it is nobody else's until discovery succeeded, so a
// failed discovery (which closes the client for good) strands no operation.
func (s *Store) discover(done chan struct{}) {
	conf := s.conf
	client, err := esdb.NewClient(&conf)
	if err == nil {
		_, err = client.GetServerVersion()
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

// needsReconnect reports errors after which the client would rediscover the server (or
// has closed itself).
func needsReconnect(err error) bool {
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader:
			return true
		}
	}
	return status.Code(errors.Unwrap(err)) == codes.Unavailable || status.Code(err) == codes.Unavailable
}

// do runs op with a connected client.
func (s *Store) do(ctx context.Context, op func(*esdb.Client) error) error {
	cn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	err = op(cn.client)
	s.release(cn, err)
	return err
}

// ReadStream returns every event of stream in revision order; an unknown stream gives an
// empty slice. Errors are the client's, wrapped, or eventstore.ErrClosed.
func (s *Store) ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	var events []eventstore.RecordedEvent
	err := s.do(ctx, func(c *esdb.Client) error {
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

func isNotFound(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == esdb.ErrorCodeResourceNotFound
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
// eventstore.ErrInvalidAppend for a malformed append, eventstore.ErrConcurrency when the
// stream is elsewhere (unless this is a retry of events already written there: then it
// reports the original result), eventstore.ErrClosed, or the client's error, wrapped.
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
	var (
		res *esdb.WriteResult
		out eventstore.AppendResult
	)
	err := s.do(ctx, func(c *esdb.Client) error {
		var err error
		res, err = c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, data...)
		if err == nil && (res.CommitPosition == 0 || res.CommitPosition == math.MaxUint64) {
			// An idempotent write may come back without a position: find the events.
			out, err = retried(ctx, c, stream, expected, events)
			res = nil
		}
		var e *esdb.Error
		if errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion {
			out, err = retried(ctx, c, stream, expected, events)
			res = nil
		}
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s at %d: %w", stream, expected, err)
	}
	if res != nil {
		out = eventstore.AppendResult{Revision: eventstore.Revision(res.NextExpectedVersion), Position: eventstore.Position(res.CommitPosition)}
	}
	return out, nil
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
