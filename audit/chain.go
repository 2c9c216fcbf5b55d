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
	return SealCanonical(stream, revision, typ, data, md), nil
}

// SealCanonical is Seal for a writer that already has its metadata's canonical encoding:
// without its hash, keys sorted, compact, as json.Marshal writes it decoded into a
// map[string]json.RawMessage. Every append seals an event, and the writer that encoded the
// metadata knows that form without parsing it again. The parts are hashed from one buffer
// on the stack (a larger event's spills to the heap).
func SealCanonical(stream string, revision eventstore.Revision, typ string, data, canonical []byte) string {
	var held [2048]byte
	var rev [20]byte
	b := held[:0]
	for _, part := range [...][]byte{[]byte(chainDomain), []byte(stream), strconv.AppendInt(rev[:0], int64(revision), 10),
		[]byte(typ), data, canonical} {
		b = append(binary.AppendUvarint(b, uint64(len(part))), part...)
	}
	sum := sha256.Sum256(b)
	var out [len("sha256:") + 2*sha256.Size]byte
	copy(out[:], "sha256:")
	hex.Encode(out[len("sha256:"):], sum[:])
	return string(out[:])
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
// Every follower of the chain reads them from every event, so paystream's metadata takes
// StringMembers rather than a decode.
func LinksOf(metadata []byte) Links {
	var v [2]string
	if StringMembers(metadata, linkNames[:], v[:]) {
		return Links{Hash: v[0], PrevHash: v[1]}
	}
	var l Links
	_ = json.Unmarshal(metadata, &l)
	return l
}

var linkNames = [2]string{FieldHash, FieldPrevHash}

// StringMembers reads the top-level string members names[i] of metadata into values[i]
// without decoding it, as json.Unmarshal into a struct with those fields would: an absent
// or null member leaves its value alone, and the last of duplicate names wins. ok is false
// for metadata StringMembers does not read (see plainMembers), for a named member that is
// not a string, and for a name in other case (json.Unmarshal matches case-insensitively):
// decode those the general way (values may then be partly written).
func StringMembers(metadata []byte, names, values []string) (ok bool) {
	var held [8]member
	members, ok := plainMembers(metadata, held[:0])
	if !ok {
		return false
	}
	for _, m := range members {
		for i, name := range names {
			if !bytes.EqualFold(m.name, []byte(name)) {
				continue
			}
			switch {
			case string(m.name) != name:
				return false
			case m.value[0] == '"':
				values[i] = string(m.value[1 : len(m.value)-1])
			case string(m.value) != "null":
				return false
			}
		}
	}
	return true
}

// member is one name and value of a JSON object; the name without its quotes.
type member struct{ name, value []byte }

// plainMembers appends the members of metadata to members, in order and duplicates
// included, when metadata is a valid JSON object of plain ASCII without escapes, as
// paystream writes it. There a string ends at its next quote, so a plain scan splits the
// members, without maps or reflection. ok is false for anything else.
func plainMembers(metadata []byte, members []member) (_ []member, ok bool) {
	for _, c := range metadata {
		if c == '\\' || c >= utf8.RuneSelf {
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
	for i = skipSpace(metadata, i+1); metadata[i] != '}'; i = skipSpace(metadata, i+1) {
		end := i + 1 + bytes.IndexByte(metadata[i+1:], '"')
		name := metadata[i+1 : end]
		i = skipSpace(metadata, skipSpace(metadata, end+1)+1) // past the colon
		start := i
		i = valueEnd(metadata, i)
		members = append(members, member{name, metadata[start:i]})
		if i = skipSpace(metadata, i); metadata[i] == '}' {
			break
		}
	}
	return members, true
}

// canonicalASCII is canonicalMetadata for metadata plainMembers splits that has no byte
// encoding/json would write differently (<, > or &): its members but the hash, sorted, and
// written without maps or reflection. ok is false for anything else (including duplicate
// names and invalid JSON), which the general way decodes, or refuses, as before.
func canonicalASCII(metadata []byte) (out []byte, ok bool) {
	if bytes.ContainsAny(metadata, "<>&") {
		return nil, false
	}
	var held [8]member // paystream's metadata has 7 fields: no allocation
	members, ok := plainMembers(metadata, held[:0])
	if !ok {
		return nil, false
	}
	members = slices.DeleteFunc(members, func(m member) bool { return string(m.name) == FieldHash })
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
