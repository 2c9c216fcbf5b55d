package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

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

// canonicalMetadata is metadata without its hash, keys sorted, compact.
func canonicalMetadata(metadata []byte) ([]byte, error) {
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
