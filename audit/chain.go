package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/eventstore"
)

// The metadata fields of the hash chain.
const (
	// FieldHash is the event's own hash (see Seal).
	FieldHash = "hash"
	// FieldPrevHash is the hash of the event before it in its stream; absent on a stream's
	// first event and on the first hashed event after pre-chain ones.
	FieldPrevHash = "prevHash"
)

// chainDomain separates paystream's event hashes from any other SHA-256 use.
const chainDomain = "paystream.event-chain.v1"

// Seal returns the hash of an event: SHA-256 over a canonical encoding of its stream,
// revision, type, data and metadata (the metadata without its own "hash" field, whose keys
// are sorted and whitespace removed, so that a store re-encoding JSON does not break it;
// the data bytes as stored). Each part is length-prefixed (uvarint), so no two different
// events encode alike. Metadata carries the predecessor's hash, so the hash covers the
// whole stream up to the event. Errors: metadata that is not a JSON object.
func Seal(stream string, revision eventstore.Revision, typ string, data, metadata []byte) (string, error) {
	md, err := canonicalMetadata(metadata)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, part := range [][]byte{[]byte(chainDomain), []byte(stream), []byte(strconv.FormatInt(int64(revision), 10)),
		[]byte(typ), data, md} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalMetadata is metadata without its hash, keys sorted, compact: what encoding/json
// writes for it decoded into a map[string]json.RawMessage. Every append and every check
// seals an event, so metadata of plain ASCII (what paystream writes) takes canonicalASCII.
func canonicalMetadata(metadata []byte) ([]byte, error) {
	if out, ok := canonicalASCII(metadata); ok {
		return out, nil
	}
	var m map[string]json.RawMessage
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return nil, fmt.Errorf("event metadata: %w", err)
		}
	}
	delete(m, FieldHash)
	return json.Marshal(m) // sorts keys and compacts raw values
}

// Links are an event's chain fields as recorded.
type Links struct {
	Hash     string `json:"hash,omitempty"`
	PrevHash string `json:"prevHash,omitempty"`
}

// LinksOf reads the chain fields of recorded metadata (zero when absent or unreadable).
func LinksOf(metadata []byte) Links {
	var l Links
	_ = json.Unmarshal(metadata, &l)
	return l
}

// canonicalASCII is canonicalMetadata for a valid JSON object with no byte encoding/json
// would write differently: nothing outside ASCII, no escapes, no <, > or &. With those out
// of the way a string ends at the next quote, so it splits the members with a plain scan and
// writes them sorted, without maps or reflection. ok is false for anything else (including
// duplicate names and invalid JSON), which the general way decodes, or refuses, as before.
func canonicalASCII(metadata []byte) (out []byte, ok bool) {
	for _, c := range metadata {
		if c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	if !json.Valid(metadata) {
		return nil, false
	}
	i := skipSpace(metadata, 0)
	if metadata[i] != '{' {
		return nil, false
	}
	type member struct{ name, value []byte } // name without its quotes
	var held [8]member                       // paystream's metadata has 7 fields: no allocation
	members := held[:0]
	for i = skipSpace(metadata, i+1); metadata[i] != '}'; i = skipSpace(metadata, i+1) {
		end := i + 1 + bytes.IndexByte(metadata[i+1:], '"')
		name := metadata[i+1 : end]
		i = skipSpace(metadata, skipSpace(metadata, end+1)+1) // past the colon
		start := i
		i = valueEnd(metadata, i)
		if string(name) != FieldHash {
			members = append(members, member{name, metadata[start:i]})
		}
		if i = skipSpace(metadata, i); metadata[i] == '}' {
			break
		}
	}
	slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
	out = append(make([]byte, 0, len(metadata)), '{')
	for k, m := range members {
		if k > 0 {
			if bytes.Equal(m.name, members[k-1].name) {
				return nil, false // a duplicate: the last one wins in a map
			}
			out = append(out, ',')
		}
		out = append(append(append(out, '"'), m.name...), '"', ':')
		if bytes.ContainsAny(m.value, " \t\r\n") {
			b := bytes.NewBuffer(out)
			_ = json.Compact(b, m.value) // valid: json.Valid checked the whole
			out = b.Bytes()
		} else {
			out = append(out, m.value...)
		}
	}
	return append(out, '}'), true
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// valueEnd returns the index just past the valid JSON value starting at i, in JSON with no
// escapes (so a string ends at its next quote).
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i += 1 + bytes.IndexByte(b[i+1:], '"')
		case '{', '[':
			depth++
			continue
		case '}', ']':
			depth--
		default:
			if depth > 0 {
				continue
			}
			for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) {
				i++ // a number or a literal
			}
			return i
		}
		if depth == 0 {
			return i + 1
		}
	}
	return i
}
