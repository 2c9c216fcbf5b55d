package commands

import (
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// FuzzEventMetadata: the metadata storedEvent writes, and the hash it returns, are exactly
// what json.Marshal and audit.Seal give, whichever way it takes; and for whatever metadata
// canonical takes, appendJSON writes what json.Marshal writes and canonical seals as the
// marshalled metadata does.
func FuzzEventMetadata(f *testing.F) {
	f.Add("req_1", "req_1", "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a", "merchant:key_1", 1, "sha256:ab", "sha256:cd")
	f.Add("", "", "", "", 0, "", "")
	f.Add("a<b", "운영자", "c\"d", "e\\f", -7, "g&h", "")
	f.Add("tab\there", "", "", "operator:ops", 1, "", "x\x7f")
	f.Fuzz(func(t *testing.T, correlation, causation, command, actor string, version int, prev, hash string) {
		meta := Meta{CorrelationID: correlation, Actor: actor, commandID: command}
		data := []byte(`{"at":"2026-11-25T01:01:01Z"}`)
		e, sealed, err := storedEvent("payment-1", 3, prev, "payment.completed.v1", data, meta, causation)
		md := EventMetadata{CorrelationID: correlation, CausationID: causation, CommandID: command, Actor: actor,
			SchemaVersion: SchemaVersion, PrevHash: prev}
		if causation == "" {
			md.CausationID = correlation
		}
		unsealed, _ := json.Marshal(md)
		want, werr := audit.Seal("payment-1", 3, "payment.completed.v1", data, unsealed)
		md.Hash = want
		whole, _ := json.Marshal(md)
		if err != nil || werr != nil || sealed != want || string(e.Metadata) != string(whole) {
			t.Fatalf("storedEvent: %s sealed %s (%v), the general way %s sealed %s (%v)", e.Metadata, sealed, err, whole, want, werr)
		}

		md = EventMetadata{CorrelationID: correlation, CausationID: causation, CommandID: command, Actor: actor,
			SchemaVersion: version, PrevHash: prev, Hash: hash}
		if _, plain := md.canonical(nil); !plain {
			return
		}
		if got, want := md.appendJSON(nil), mustMarshal(t, md); string(got) != string(want) {
			t.Fatalf("appendJSON = %s, json.Marshal = %s", got, want)
		}
		md.Hash = ""
		canonical, _ := md.canonical(nil)
		want, err = audit.Seal("payment-1", 3, "payment.completed.v1", data, mustMarshal(t, md))
		if err != nil || audit.SealCanonical("payment-1", 3, "payment.completed.v1", data, canonical) != want {
			t.Fatalf("canonical %s does not seal as %s does (%v)", canonical, mustMarshal(t, md), err)
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEventMetadataTakesPaystreamsOwn(t *testing.T) {
	for _, md := range []EventMetadata{
		{CorrelationID: "req_1", CausationID: "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a", CommandID: "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5b",
			Actor: "merchant:key_1", SchemaVersion: SchemaVersion, PrevHash: "sha256:0123456789abcdef"},
		{SchemaVersion: SchemaVersion},
	} {
		if _, plain := md.canonical(nil); !plain {
			t.Errorf("canonical(%+v) is not plain", md)
		}
	}
	if _, plain := (EventMetadata{Actor: "a<b"}).canonical(nil); plain {
		t.Error("an actor with < must take json.Marshal, which escapes it")
	}
}

// BenchmarkStoredEvent: one event built, sealed and chained as an append builds it.
func BenchmarkStoredEvent(b *testing.B) {
	meta := Meta{CorrelationID: "req_1", Actor: "merchant:key_1"}.forCommand()
	data := []byte(`{"orders":[0,1],"messageId":"0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a","at":"2026-11-25T01:01:01Z"}`)
	for b.Loop() {
		if _, _, err := storedEvent("payment-ord_1", 4, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			"payment.ledger-updated.v1", data, meta, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// eventID is uuid.NewSHA1 of "stream@revision/name/commandID" in paystream's namespace:
// recorded ids depend on it, so it must never change.
func TestEventIDIsNamespacedSHA1(t *testing.T) {
	long := strings.Repeat("s", 300) // past the stack buffer
	for _, c := range []struct {
		stream   string
		revision eventstore.Revision
		name     string
		command  string
	}{
		{"payment-ord_1", 0, "payment.checkout-created.v1", "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a"},
		{"payment-ord_1", 12345678901, "payment.completed.v1", ""},
		{long, 7, "payment.psp-approved.v1", long},
		{"", 0, "", ""},
	} {
		want := uuid.NewSHA1(eventNamespace, []byte(c.stream+"@"+strconv.FormatInt(int64(c.revision), 10)+"/"+c.name+"/"+c.command))
		if got := eventID(c.stream, c.revision, c.name, c.command); got != want {
			t.Errorf("eventID(%.20q, %d, %q, %.20q) = %s, want %s", c.stream, c.revision, c.name, c.command, got, want)
		}
	}
}
