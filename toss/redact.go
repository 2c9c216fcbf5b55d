package toss

import (
	"bytes"
	"slices"
	"strings"
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
	dec := decoders.Get().(*jsontext.Decoder)
	defer decoders.Put(dec)
	dec.Reset(bytes.NewReader(body))
	return redactPlainValue(dec, make([]byte, 0, len(body)))
}

// decoders are reused: a jsontext.Decoder is large to allocate for one body.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewReader(nil)) }}

var redactedJSON = []byte(`"[REDACTED]"`)

func redactPlainValue(dec *jsontext.Decoder, out []byte) ([]byte, bool) {
	switch dec.PeekKind() {
	case '{':
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		type member struct {
			name  string // decoded: maps sort by it
			quote []byte // as encoding/json writes it
			value []byte
		}
		var members []member
		for dec.PeekKind() != '}' {
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, false
			}
			name, quote, ok := encodedString(raw)
			if !ok {
				return nil, false
			}
			var value []byte
			if sensitiveKeys[name] && dec.PeekKind() != 'n' {
				if dec.SkipValue() != nil {
					return nil, false
				}
				value = redactedJSON
			} else {
				var ok bool
				if value, ok = redactPlainValue(dec, nil); !ok {
					return nil, false
				}
			}
			members = append(members, member{name, quote, value})
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })
		out = append(out, '{')
		for i, m := range members {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, m.quote...)
			out = append(out, ':')
			out = append(out, m.value...)
		}
		return append(out, '}'), true
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		out = append(out, '[')
		for i := 0; dec.PeekKind() != ']'; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			var ok bool
			if out, ok = redactPlainValue(dec, out); !ok {
				return nil, false
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, false
		}
		return append(out, ']'), true
	case '"', '0', 't', 'f', 'n':
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		if raw[0] == '"' && !plainString(raw) {
			_, quote, ok := encodedString(raw)
			return append(out, quote...), ok
		}
		return append(out, raw...), true // a number keeps its literal, as json.Number does
	}
	return nil, false // invalid JSON or a read error: PeekKind answers 0
}

// encodedString is the quoted JSON string raw decoded, and as encoding/json writes it: raw
// itself (copied: the decoder reuses its buffer) when it is plain (plainString), else the
// decoded value encoded again. ok is false when raw does not unquote (the decoder has
// checked it, so this is not expected).
func encodedString(raw []byte) (value string, quote []byte, ok bool) {
	if plainString(raw) {
		return string(raw[1 : len(raw)-1]), slices.Clone(raw), true
	}
	unq, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", nil, false
	}
	quote, err = json.Marshal(string(unq))
	return string(unq), quote, err == nil
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
