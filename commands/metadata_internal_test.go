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

// FuzzEventMetadata: whatever metadata encode takes, it writes exactly what json.Marshal
// writes, and its canonical form seals to the hash audit.Seal gives that encoding.
func FuzzEventMetadata(f *testing.F) {
	f.Add("req_1", "req_1", "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a", "merchant:key_1", 1, "sha256:ab")
	f.Add("", "", "", "", 0, "")
	f.Add("a<b", "운영자", "c\"d", "e\\f", -7, "g&h")
	f.Add("tab\there", "", "", "operator:ops", 1, "")
	f.Fuzz(func(t *testing.T, correlation, causation, command, actor string, version int, prev string) {
		md := EventMetadata{CorrelationID: correlation, CausationID: causation, CommandID: command, Actor: actor,
			SchemaVersion: version, PrevHash: prev}
		stored, canonical, plain := md.encode()
		if !plain {
			return
		}
		want, err := json.Marshal(md)
		if err != nil || string(stored) != string(want) {
			t.Fatalf("encode(%+v) = %s, json.Marshal = %s (%v)", md, stored, want, err)
		}
		sealed, err := audit.Seal("payment-1", 3, "payment.completed.v1", []byte(`{}`), want)
		if err != nil || audit.SealCanonical("payment-1", 3, "payment.completed.v1", []byte(`{}`), canonical) != sealed {
			t.Fatalf("canonical %s of %s does not seal as it (%v)", canonical, want, err)
		}
		md.Hash = sealed
		if whole, _ := json.Marshal(md); string(withHash(stored, sealed)) != string(whole) {
			t.Fatalf("withHash = %s, json.Marshal = %s", withHash(stored, sealed), whole)
		}
	})
}

func TestEventMetadataTakesPaystreamsOwn(t *testing.T) {
	for _, md := range []EventMetadata{
		{CorrelationID: "req_1", CausationID: "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5a", CommandID: "0193b8c0-7d2e-7c4e-9a51-2f0c3e1d4b5b",
			Actor: "merchant:key_1", SchemaVersion: SchemaVersion, PrevHash: "sha256:0123456789abcdef"},
		{SchemaVersion: SchemaVersion},
	} {
		if _, _, plain := md.encode(); !plain {
			t.Errorf("encode(%+v) is not plain", md)
		}
	}
	if _, _, plain := (EventMetadata{Actor: "a<b"}).encode(); plain {
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
