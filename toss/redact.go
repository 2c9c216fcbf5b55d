package toss

import (
	"bytes"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"

	"github.com/go-json-experiment/json/jsontext"
)

// sensitiveKeys are Payment fields kept out of recorded evidence: the virtual-account
// secret, buyer contact data and account/card numbers.
var sensitiveKeys = map[string]bool{
	"secret": true, "customerMobilePhone": true, "customerEmail": true, "customerName": true,
	"accountNumber": true, "number": true, "customerKey": true,
}

// redact returns body with sensitive fields replaced, or a JSON string of the body when it
// is not JSON (e.g. a proxy's HTML error page), truncated to keep events small. The result
// is compact with every object's keys sorted, as encoding/json writes a decoded map.
//
// Every confirm records one, so it has a fast path (redactPlain) for the bodies Toss sends;
// a body it does not take (escaped or HTML-special strings, duplicate names, invalid
// UTF-8, bad JSON) goes the general way, which gives the same bytes for what both take.
func redact(body []byte) json.RawMessage {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if out, ok := redactPlain(body); ok {
		return out
	}
	return redactGeneral(body)
}

// redactGeneral decodes body into maps and encodes it back: slow, but it takes any JSON.
func redactGeneral(body []byte) json.RawMessage {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep amounts exactly as Toss sent them
	if err := dec.Decode(&v); err != nil {
		const max = 512
		if len(body) > max {
			body = body[:max]
		}
		s, _ := json.Marshal(string(body))
		return s
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return nil
	}
	return out
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if sensitiveKeys[k] && child != nil {
				v[k] = "[REDACTED]"
			} else {
				v[k] = redactValue(child)
			}
		}
	case []any:
		for i := range v {
			v[i] = redactValue(v[i])
		}
	}
	return v
}

// redactPlain is redact for valid JSON without duplicate names or invalid UTF-8: it copies
// tokens through a streaming decoder, sorting keys, without building maps. A string that
// encoding/json would write differently (escapes, <, > or &, U+2028/2029) is written as it
// would: unquoted and encoded again. ok is false for any other body; its first JSON value is
// all it reads, as redactGeneral's decoder.
func redactPlain(body []byte) (out []byte, ok bool) {
	r := redactors.Get().(*redactor)
	defer r.release()
	r.dec.Reset(bytes.NewReader(body))
	v, ok := r.value()
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// redactor is one redactPlain's working memory, reused: every value it copies goes into
// one arena instead of a slice of its own, and every object's members onto one stack.
// Slices into the arena stay valid when it grows (the bytes they see are never written
// again); a member stack entry lives until its object is written.
type redactor struct {
	dec     *jsontext.Decoder // large to allocate for one body
	arena   []byte
	members []member
}

type member struct {
	name  []byte // decoded: objects sort by it, as encoding/json sorts a map
	quote []byte // the name as encoding/json writes it
	value []byte
}

var redactedJSON = []byte(`"[REDACTED]"`)

var redactors = sync.Pool{New: func() any { return &redactor{dec: jsontext.NewDecoder(bytes.NewReader(nil))} }}

// release returns r to the pool unless one large body made it large.
func (r *redactor) release() {
	if cap(r.arena) > 1<<16 {
		return
	}
	r.arena, r.members = r.arena[:0], r.members[:0]
	clear(r.members[:cap(r.members)]) // drop the references into the arena
	redactors.Put(r)
}

// copied appends parts to the arena and returns them as one slice that cannot be appended
// to in place.
func (r *redactor) copied(parts ...[]byte) []byte {
	start := len(r.arena)
	for _, p := range parts {
		r.arena = append(r.arena, p...)
	}
	return r.arena[start:len(r.arena):len(r.arena)]
}

// value reads the next JSON value and returns it redacted, in the arena.
func (r *redactor) value() ([]byte, bool) {
	switch r.dec.PeekKind() {
	case '{':
		if _, err := r.dec.ReadToken(); err != nil {
			return nil, false
		}
		first := len(r.members) // this object's members; a nested one's go above and are gone when it returns
		for r.dec.PeekKind() != '}' {
			raw, err := r.dec.ReadValue()
			if err != nil {
				return nil, false
			}
			m, ok := r.name(raw)
			if !ok {
				return nil, false
			}
			if sensitiveKeys[string(m.name)] && r.dec.PeekKind() != 'n' {
				if r.dec.SkipValue() != nil {
					return nil, false
				}
				m.value = redactedJSON
			} else if m.value, ok = r.value(); !ok {
				return nil, false
			}
			r.members = append(r.members, m)
		}
		if _, err := r.dec.ReadToken(); err != nil {
			return nil, false
		}
		members := r.members[first:]
		slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
		start := len(r.arena)
		r.arena = append(r.arena, '{')
		for i, m := range members {
			if i > 0 {
				r.arena = append(r.arena, ',')
			}
			r.arena = append(append(append(r.arena, m.quote...), ':'), m.value...)
		}
		r.arena = append(r.arena, '}')
		r.members = r.members[:first]
		return r.arena[start:len(r.arena):len(r.arena)], true
	case '[':
		if _, err := r.dec.ReadToken(); err != nil {
			return nil, false
		}
		first := len(r.members) // the elements, as nameless members: written once all are read
		for r.dec.PeekKind() != ']' {
			v, ok := r.value()
			if !ok {
				return nil, false
			}
			r.members = append(r.members, member{value: v})
		}
		if _, err := r.dec.ReadToken(); err != nil {
			return nil, false
		}
		start := len(r.arena)
		r.arena = append(r.arena, '[')
		for i, m := range r.members[first:] {
			if i > 0 {
				r.arena = append(r.arena, ',')
			}
			r.arena = append(r.arena, m.value...)
		}
		r.arena = append(r.arena, ']')
		r.members = r.members[:first]
		return r.arena[start:len(r.arena):len(r.arena)], true
	case '"', '0', 't', 'f', 'n':
		raw, err := r.dec.ReadValue()
		if err != nil {
			return nil, false
		}
		if raw[0] == '"' && !plainString(raw) {
			_, quote, ok := reencoded(raw)
			return quote, ok
		}
		return r.copied(raw), true // a number keeps its literal, as json.Number does
	}
	return nil, false // invalid JSON or a read error: PeekKind answers 0
}

// name is an object member's name raw (a quoted JSON string) copied into the arena: its
// decoded value and its quote as encoding/json writes it.
func (r *redactor) name(raw []byte) (member, bool) {
	if plainString(raw) {
		q := r.copied(raw)
		return member{name: q[1 : len(q)-1], quote: q}, true
	}
	name, quote, ok := reencoded(raw)
	return member{name: name, quote: quote}, ok
}

// reencoded is the quoted JSON string raw, which is not plain (plainString), decoded and
// as encoding/json writes it. ok is false when raw does not unquote (the decoder has checked
// it, so this is not expected).
func reencoded(raw []byte) (value, quote []byte, ok bool) {
	value, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return nil, nil, false
	}
	quote, err = json.Marshal(string(value))
	return value, quote, err == nil
}

// plainString reports whether the quoted JSON string raw is written back unchanged by
// encoding/json: no escapes, nothing it escapes for HTML, no U+2028/2029. (The decoder has
// already checked it is valid UTF-8 with no control characters.)
func plainString(raw []byte) bool {
	for i := 1; i < len(raw)-1; i++ {
		switch c := raw[i]; {
		case c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		case c >= utf8.RuneSelf:
			if r, _ := utf8.DecodeRune(raw[i:]); r == '\u2028' || r == '\u2029' {
				return false
			}
		}
	}
	return true
}
