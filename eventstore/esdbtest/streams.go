package esdbtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// streamsService implements Streams for one generation of the server.
type streamsService struct {
	api.UnimplementedStreamsServer
	srv  *Server
	db   *db
	quit <-chan struct{} // closed when this generation stops
}

func (s *streamsService) Append(call api.Streams_AppendServer) error {
	first, err := call.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append: the first message must be options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return status.Error(codes.InvalidArgument, "append: empty stream name")
	}
	var exp expectation
	switch o := opts.ExpectedStreamRevision.(type) {
	case *api.AppendReq_Options_Revision:
		exp = expectation{kind: expectRevision, revision: o.Revision}
	case *api.AppendReq_Options_NoStream:
		exp.kind = expectNoStream
	case *api.AppendReq_Options_StreamExists:
		exp.kind = expectExists
	default:
		exp.kind = expectAny
	}
	var (
		events []proposed
		size   int
	)
	for {
		msg, err := call.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		m := msg.GetProposedMessage()
		if m == nil {
			return status.Error(codes.InvalidArgument, "append: options sent twice")
		}
		id, err := fromProtoUUID(m.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "append: event %d: %v", len(events), err)
		}
		if id == uuid.Nil {
			return status.Error(codes.InvalidArgument, "Empty eventId provided.")
		}
		typ, contentType := m.GetMetadata()["type"], m.GetMetadata()["content-type"]
		if typ == "" || contentType == "" {
			return status.Errorf(codes.InvalidArgument, "append: event %d lacks type or content-type", len(events))
		}
		events = append(events, proposed{id: id, typ: typ, contentType: contentType,
			custom: m.GetCustomMetadata(), data: m.GetData()})
		// The server's count: data, custom metadata and the type in UTF-16 code units, twice.
		size += len(m.GetData()) + len(m.GetCustomMetadata()) + 2*len(utf16.Encode([]rune(typ)))
		if size > s.srv.opts.MaxAppendSize {
			call.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(s.srv.opts.MaxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.srv.opts.MaxAppendSize)
		}
	}
	if len(events) == 0 {
		// A real server accepts an empty append as a no-op; nothing the adapter sends.
		return status.Error(codes.InvalidArgument, "append: no events")
	}
	out, err := s.db.appendEvents(stream, exp, events)
	if err != nil {
		return deletedError(call, err)
	}
	commitTimeout := status.Error(codes.Aborted, "Operation timed out: commit timeout")
	if out.notReady {
		// IdempotentNotReady: the server drops the retry; the client sees the commit timeout.
		select {
		case <-time.After(s.srv.opts.CommitTimeout):
		case <-call.Context().Done():
		}
		return commitTimeout
	}
	if out.ok && !s.db.awaitReplicated(out.pos, s.srv.opts.CommitTimeout, call.Context().Done()) {
		return commitTimeout // the write stays and is replicated later
	}
	if out.ok {
		if code, lost := s.srv.lostReply(); lost {
			return status.Errorf(code, "esdbtest: the append was written but its reply is lost (%s)", code)
		}
	}
	if out.ok {
		return call.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: out.revision},
			PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
				CommitPosition: out.pos, PreparePosition: out.pos}},
		}}})
	}
	wrong := &api.AppendResp_WrongExpectedVersion{}
	if out.current < 0 {
		wrong.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		wrong.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(out.current)}
	}
	switch exp.kind {
	case expectRevision:
		wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.revision}
	case expectNoStream:
		wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectExists:
		wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	}
	return call.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrong}})
}

// expectationOf decodes the expected revision of a delete or tombstone.
func expectationOf(revision *uint64, noStream, exists bool) expectation {
	switch {
	case revision != nil:
		return expectation{kind: expectRevision, revision: *revision}
	case noStream:
		return expectation{kind: expectNoStream}
	case exists:
		return expectation{kind: expectExists}
	}
	return expectation{kind: expectAny}
}

func (s *streamsService) Delete(ctx context.Context, req *api.DeleteReq) (*api.DeleteResp, error) {
	o := req.GetOptions()
	var rev *uint64
	if r, ok := o.GetExpectedStreamRevision().(*api.DeleteReq_Options_Revision); ok {
		rev = &r.Revision
	}
	exp := expectationOf(rev, o.GetNoStream() != nil, o.GetStreamExists() != nil)
	stream := string(o.GetStreamIdentifier().GetStreamName())
	pos, err := s.remove(ctx, stream, exp, false)
	if err != nil {
		return nil, err
	}
	return &api.DeleteResp{PositionOption: &api.DeleteResp_Position_{Position: &api.DeleteResp_Position{
		CommitPosition: pos, PreparePosition: pos}}}, nil
}

func (s *streamsService) Tombstone(ctx context.Context, req *api.TombstoneReq) (*api.TombstoneResp, error) {
	o := req.GetOptions()
	var rev *uint64
	if r, ok := o.GetExpectedStreamRevision().(*api.TombstoneReq_Options_Revision); ok {
		rev = &r.Revision
	}
	exp := expectationOf(rev, o.GetNoStream() != nil, o.GetStreamExists() != nil)
	stream := string(o.GetStreamIdentifier().GetStreamName())
	pos, err := s.remove(ctx, stream, exp, true)
	if err != nil {
		return nil, err
	}
	return &api.TombstoneResp{PositionOption: &api.TombstoneResp_Position_{Position: &api.TombstoneResp_Position{
		CommitPosition: pos, PreparePosition: pos}}}, nil
}

func (s *streamsService) remove(ctx context.Context, stream string, exp expectation, tombstone bool) (uint64, error) {
	if stream == "" {
		return 0, status.Error(codes.InvalidArgument, "delete: empty stream name")
	}
	pos, ok, current, err := s.db.remove(stream, exp, tombstone)
	if err != nil {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "stream-deleted", "stream-name", stream))
		return 0, status.Error(codes.FailedPrecondition, err.Error())
	}
	if !ok {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "wrong-expected-version",
			"expected-version", expectedText(exp), "actual-version", strconv.FormatInt(current, 10)))
		return 0, status.Errorf(codes.FailedPrecondition, "wrong expected version: expected %s, stream at %d", expectedText(exp), current)
	}
	return pos, nil
}

func expectedText(exp expectation) string {
	switch exp.kind {
	case expectRevision:
		return strconv.FormatUint(exp.revision, 10)
	case expectNoStream:
		return "-1"
	case expectExists:
		return "-4"
	}
	return "-2"
}

// deletedError turns errDeleted into the gRPC error and trailers the client recognises.
func deletedError(call grpc.ServerStream, err error) error {
	var d errDeleted
	if errors.As(err, &d) {
		call.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", d.stream))
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return err
}

// reader is one Read call: its options decoded.
type reader struct {
	call       api.Streams_ReadServer
	uuidString bool
	filter     *filter
	backwards  bool
	count      uint64
}

func (s *streamsService) Read(req *api.ReadReq, call api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read: no options")
	}
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "read: %v", err)
	}
	r := &reader{call: call, uuidString: o.GetUuidOption().GetString_() != nil, filter: f,
		backwards: o.GetReadDirection() == api.ReadReq_Options_Backwards, count: o.GetCount()}
	subscribe := o.GetSubscription() != nil
	if subscribe {
		select {
		case <-s.srv.subsDownChan():
			return errSubscriptionsDown
		default:
		}
	}
	switch so := o.StreamOption.(type) {
	case *api.ReadReq_Options_Stream:
		stream := string(so.Stream.GetStreamIdentifier().GetStreamName())
		if stream == "" {
			return status.Error(codes.InvalidArgument, "read: empty stream name")
		}
		if subscribe {
			return s.subscribeStream(r, stream, so.Stream)
		}
		return s.readStream(r, stream, so.Stream)
	case *api.ReadReq_Options_All:
		if !s.srv.mayReadAll(call.Context()) {
			call.SetTrailer(metadata.Pairs("exception", "access-denied"))
			return status.Error(codes.PermissionDenied, "Access Denied")
		}
		if subscribe {
			return s.subscribeAll(r, so.All)
		}
		return s.readAll(r, so.All)
	}
	return status.Error(codes.InvalidArgument, "read: neither a stream nor $all")
}

// readStream is a plain stream read: events, or a single stream_not_found, then the end.
func (s *streamsService) readStream(r *reader, stream string, o *api.ReadReq_Options_StreamOptions) error {
	visible, tombstoned := s.db.streamSnapshot(stream)
	if tombstoned {
		return deletedError(r.call, errDeleted{stream})
	}
	if len(visible) == 0 {
		return r.call.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}}})
	}
	first := visible[0].revision
	var out []*record
	if !r.backwards {
		from := uint64(0)
		switch rv := o.RevisionOption.(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			from = rv.Revision
		case *api.ReadReq_Options_StreamOptions_End:
			from = first + uint64(len(visible))
		}
		for _, rec := range visible {
			if rec.revision >= from {
				out = append(out, rec)
			}
		}
	} else {
		to := visible[len(visible)-1].revision
		switch rv := o.RevisionOption.(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			to = rv.Revision
		case *api.ReadReq_Options_StreamOptions_Start:
			to = first
		}
		for i := len(visible) - 1; i >= 0; i-- {
			if visible[i].revision <= to {
				out = append(out, visible[i])
			}
		}
	}
	return r.sendAll(out)
}

// readAll is a plain $all read, inclusive of its starting position.
func (s *streamsService) readAll(r *reader, o *api.ReadReq_Options_AllOptions) error {
	log, _ := s.db.allSnapshot()
	var out []*record
	if !r.backwards {
		from := uint64(0)
		switch p := o.AllOption.(type) {
		case *api.ReadReq_Options_AllOptions_Position:
			from = p.Position.GetCommitPosition()
		case *api.ReadReq_Options_AllOptions_End:
			from = ^uint64(0)
		}
		for _, rec := range log {
			if rec.pos >= from && r.filter.matches(rec) {
				out = append(out, rec)
			}
		}
	} else {
		to := ^uint64(0)
		switch p := o.AllOption.(type) {
		case *api.ReadReq_Options_AllOptions_Position:
			to = p.Position.GetCommitPosition()
		case *api.ReadReq_Options_AllOptions_Start:
			to = 0
		}
		for i := len(log) - 1; i >= 0; i-- {
			if log[i].pos <= to && r.filter.matches(log[i]) {
				out = append(out, log[i])
			}
		}
	}
	return r.sendAll(out)
}

func (r *reader) sendAll(records []*record) error {
	for i, rec := range records {
		if uint64(i) >= r.count {
			break
		}
		if err := r.sendEvent(rec); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) sendEvent(rec *record) error {
	id := protoUUID(rec.id)
	if r.uuidString {
		id = &shared.UUID{Value: &shared.UUID_String_{String_: rec.id.String()}}
	}
	return r.call.Send(&api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(rec.stream)},
			StreamRevision:   rec.revision,
			PreparePosition:  rec.pos,
			CommitPosition:   rec.pos,
			Metadata: map[string]string{
				"type":         rec.typ,
				"content-type": rec.contentType,
				"created":      strconv.FormatInt(rec.created, 10),
			},
			CustomMetadata: rec.custom,
			Data:           rec.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: rec.pos},
	}}})
}

func (r *reader) confirm() error {
	return r.call.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}})
}

func (r *reader) caughtUp() error {
	return r.call.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}})
}

func (r *reader) checkpoint(commit, prepare uint64) error {
	return r.call.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
		CommitPosition: commit, PreparePosition: prepare}}})
}

var errSubscriptionsDown = status.Error(codes.Unavailable, "esdbtest: subscriptions refused (fault injected)")

// wait blocks until changed is closed (nil), or the call must end (its error).
func (s *streamsService) wait(r *reader, changed <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-r.call.Context().Done():
		return status.FromContextError(r.call.Context().Err()).Err()
	case <-s.quit:
		return status.Error(codes.Unavailable, "esdbtest: server stopped")
	case <-s.srv.faultChan():
		return errUnavailable
	case <-s.srv.subsDownChan():
		return errSubscriptionsDown
	}
}

// subscribeStream is a catch-up subscription to one stream, exclusive of its start.
func (s *streamsService) subscribeStream(r *reader, stream string, o *api.ReadReq_Options_StreamOptions) error {
	next := uint64(0)
	switch rv := o.RevisionOption.(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		next = rv.Revision + 1
	case *api.ReadReq_Options_StreamOptions_End:
		next = s.db.streamLength(stream)
	}
	if err := r.confirm(); err != nil {
		return err
	}
	live := false
	for {
		batch, changed := s.db.streamFrom(stream, next)
		for _, rec := range batch {
			if err := r.sendEvent(rec); err != nil {
				return err
			}
			next = rec.revision + 1
		}
		if len(batch) > 0 {
			continue
		}
		if !live {
			live = true
			if err := r.caughtUp(); err != nil {
				return err
			}
			s.srv.live.Add(1)
			defer s.srv.live.Add(-1)
		}
		if err := s.wait(r, changed); err != nil {
			return err
		}
	}
}

// subscribeAll is a catch-up subscription to $all, exclusive of its start, with
// checkpoints when filtered: every filter interval of records scanned, and once at the end
// of catch-up (before caught_up) at the last record scanned — or, as the defective
// versions do, (MaxUint64, MaxUint64) when a subscription from the start matched nothing
// during catch-up (KDB-710, 24.2.0–24.10.4), or (end of log, 0) (KDB-744, 25.0.0).
func (s *streamsService) subscribeAll(r *reader, o *api.ReadReq_Options_AllOptions) error {
	log, _ := s.db.allSnapshot()
	next := 0 // index into the log
	fromStart := false
	switch p := o.AllOption.(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		// Exclusive of the full (commit, prepare) position, as the server compares them.
		commit, prepare := p.Position.GetCommitPosition(), p.Position.GetPreparePosition()
		for next < len(log) && (log[next].pos < commit || (log[next].pos == commit && log[next].pos <= prepare)) {
			next++
		}
	case *api.ReadReq_Options_AllOptions_End:
		next = len(log)
	default:
		fromStart = true
	}
	if err := r.confirm(); err != nil {
		return err
	}
	var (
		live    bool
		sent    bool   // an event or a checkpoint went out during catch-up
		scanned uint32 // since the last checkpoint
		lastPos uint64 // of the last record scanned
	)
	v := s.srv.version
	for {
		log, changed := s.db.allSnapshot()
		for ; next < len(log); next++ {
			rec := log[next]
			if r.filter.matches(rec) {
				if err := r.sendEvent(rec); err != nil {
					return err
				}
				sent = true
			}
			lastPos = rec.pos
			if r.filter != nil {
				if scanned++; scanned >= r.filter.interval {
					if err := r.checkpoint(lastPos, lastPos); err != nil {
						return err
					}
					scanned, sent = 0, true
				}
			}
		}
		if !live {
			live = true
			if r.filter != nil {
				var err error
				switch {
				case v.KDB710() && fromStart && !sent:
					err = r.checkpoint(^uint64(0), ^uint64(0)) // (-1,-1) as the client reads it
				case v.KDB744():
					end := s.db.end()
					err = r.checkpoint(end, 0)
				case scanned > 0:
					err = r.checkpoint(lastPos, lastPos)
				}
				if err != nil {
					return err
				}
				scanned = 0
			}
			if err := r.caughtUp(); err != nil {
				return err
			}
			s.srv.live.Add(1)
			defer s.srv.live.Add(-1)
		}
		if r.filter != nil && scanned > 0 {
			if err := r.checkpoint(lastPos, lastPos); err != nil {
				return err
			}
			scanned = 0
		}
		if err := s.wait(r, changed); err != nil {
			return err
		}
	}
}

// filter is a server-side $all filter on stream names or event types.
type filter struct {
	eventType bool
	prefixes  []string
	re        *regexp.Regexp
	interval  uint32 // records scanned between checkpoints
}

func newFilter(o *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch x := o.Filter.(type) {
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = x.StreamIdentifier
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr, f.eventType = x.EventType, true
	default:
		return nil, errors.New("filter without stream_identifier or event_type")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, fmt.Errorf("filter regex: %w", err)
		}
		f.re = re
	}
	if len(f.prefixes) == 0 && f.re == nil {
		return nil, errors.New("filter without prefixes or regex")
	}
	window := o.GetMax()
	if window == 0 {
		window = 32
	}
	mult := o.GetCheckpointIntervalMultiplier()
	if mult == 0 {
		mult = 1
	}
	f.interval = window * mult
	return f, nil
}

// matches reports whether a record passes the filter; a nil filter passes everything.
func (f *filter) matches(rec *record) bool {
	if f == nil {
		return true
	}
	subject := rec.stream
	if f.eventType {
		subject = rec.typ
	}
	if f.re != nil && f.re.MatchString(subject) {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

func protoUUID(id uuid.UUID) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if s := u.GetStructured(); s != nil {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(s.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(s.GetLeastSignificantBits()))
		return id, nil
	}
	if str := u.GetString_(); str != "" {
		return uuid.Parse(str)
	}
	return uuid.Nil, errors.New("no event id")
}
