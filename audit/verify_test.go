package audit_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

const stream = "payment-order-0001"

// chain writes n events as commands does: each metadata carries its predecessor's hash and
// its own. The first pre of them are pre-chain (no hashes).
func chain(n, pre int) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	prev := ""
	for i := range n {
		data := fmt.Appendf(nil, `{"n":%d}`, i)
		md := map[string]any{"correlationId": "req_1", "actor": "shop", "schemaVersion": 1}
		if i >= pre {
			if prev != "" {
				md["prevHash"] = prev
			}
			unsealed, _ := json.Marshal(md)
			h, err := audit.Seal(stream, eventstore.Revision(i), "payment.x.v1", data, unsealed)
			Expect(err).NotTo(HaveOccurred())
			md["hash"], prev = h, h
		}
		meta, _ := json.Marshal(md)
		out = append(out, eventstore.RecordedEvent{Stream: stream, Revision: eventstore.Revision(i), Position: eventstore.Position(i + 1),
			ID: uuid.New(), Type: "payment.x.v1", Data: data, Metadata: meta})
	}
	return out
}

// renumber makes revisions consecutive again, as a store rewritten without an event would.
func renumber(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	for i := range es {
		es[i].Revision = eventstore.Revision(i)
	}
	return es
}

var _ = Describe("VerifyStream", func() {
	It("finds an intact chain intact", func() {
		rep := audit.VerifyStream(stream, chain(6, 0), nil)
		Expect(rep.Intact).To(BeTrue(), "%+v", rep.Findings)
		Expect(rep.PreChain).To(BeZero())
		Expect(rep.Head.Revision).To(Equal(eventstore.Revision(5)))
	})

	It("verifies a stream recorded before the chain as pre-chain up to its first hashed event", func() {
		rep := audit.VerifyStream(stream, chain(6, 3), nil)
		Expect(rep.Intact).To(BeTrue(), "%+v", rep.Findings)
		Expect(rep.PreChain).To(Equal(3))
	})

	DescribeTable("reports the tampering and the revision",
		func(tamper func([]eventstore.RecordedEvent) []eventstore.RecordedEvent, want []audit.Finding) {
			rep := audit.VerifyStream(stream, tamper(chain(7, 0)), nil)
			Expect(rep.Intact).To(BeFalse())
			var got []audit.Finding
			for _, f := range rep.Findings {
				got = append(got, audit.Finding{Revision: f.Revision, Kind: f.Kind})
			}
			Expect(got).To(Equal(want), "%+v", rep.Findings)
		},
		Entry("data edited", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			es[3].Data = []byte(`{"n":33}`)
			return es
		}, []audit.Finding{{Revision: 3, Kind: audit.Edited}}),
		Entry("metadata edited (the actor)", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			es[2].Metadata = []byte(string(es[2].Metadata[:len(es[2].Metadata)-1]) + `,"actor":"mallory"}`)
			return es
		}, []audit.Finding{{Revision: 2, Kind: audit.Edited}}),
		Entry("edited with its hash recomputed", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			var md map[string]any
			Expect(json.Unmarshal(es[4].Metadata, &md)).To(Succeed())
			es[4].Data = []byte(`{"n":44}`)
			delete(md, "hash")
			unsealed, _ := json.Marshal(md)
			md["hash"], _ = audit.Seal(stream, 4, es[4].Type, es[4].Data, unsealed)
			es[4].Metadata, _ = json.Marshal(md)
			return es
		}, []audit.Finding{{Revision: 4, Kind: audit.Edited}}),
		Entry("one removed", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			return renumber(slices.Delete(es, 2, 3))
		}, []audit.Finding{{Revision: 2, Kind: audit.Removed}}),
		Entry("two removed", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			return renumber(slices.Delete(es, 1, 3))
		}, []audit.Finding{{Revision: 1, Kind: audit.Removed}}),
		Entry("one inserted without a hash", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			forged := eventstore.RecordedEvent{Stream: stream, Type: "payment.x.v1", Data: []byte(`{"n":99}`), Metadata: []byte(`{"actor":"ops"}`)}
			return renumber(slices.Insert(es, 3, forged))
		}, []audit.Finding{{Revision: 3, Kind: audit.Inserted}}),
		Entry("one inserted as a copy", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			return renumber(slices.Insert(es, 5, es[2]))
		}, []audit.Finding{{Revision: 5, Kind: audit.Inserted}}),
		Entry("two swapped", func(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
			es[2], es[3] = es[3], es[2]
			return renumber(es)
		}, []audit.Finding{{Revision: 2, Kind: audit.Reordered}, {Revision: 3, Kind: audit.Reordered}}),
	)

	It("catches a stream rewritten consistently by the anchor of its head", func() {
		original := chain(5, 0)
		head := audit.Head{Revision: 4, Hash: audit.LinksOf(original[4].Metadata).Hash}
		rewritten := chain(5, 0)
		for i := range rewritten { // the same events with other data, every hash recomputed
			rewritten[i].Data = fmt.Appendf(nil, `{"n":%d,"x":1}`, i)
		}
		rewritten = resealed(rewritten)
		Expect(audit.VerifyStream(stream, rewritten, nil).Intact).To(BeTrue(), "the chain alone cannot tell")
		rep := audit.VerifyStream(stream, rewritten, &head)
		Expect(rep.Findings).To(ConsistOf(HaveField("Kind", audit.Rewritten)))
		rep = audit.VerifyStream(stream, original[:3], &head)
		Expect(rep.Findings).To(ConsistOf(And(HaveField("Kind", audit.Removed), HaveField("Revision", eventstore.Revision(3)))))
	})
})

// resealed recomputes every hash of es, as a forger who knows the algorithm would.
func resealed(es []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	prev := ""
	for i := range es {
		md := map[string]any{"actor": "shop", "schemaVersion": 1}
		if prev != "" {
			md["prevHash"] = prev
		}
		unsealed, _ := json.Marshal(md)
		h, _ := audit.Seal(stream, eventstore.Revision(i), es[i].Type, es[i].Data, unsealed)
		md["hash"], prev = h, h
		es[i].Metadata, _ = json.Marshal(md)
	}
	return es
}

var _ = Describe("Seal", func() {
	// The canonical encoding is frozen: every recorded chain depends on it.
	It("hashes the golden event to its recorded hash", func() {
		raw, err := os.ReadFile("../testdata/metadata/chained-event.v1.json")
		Expect(err).NotTo(HaveOccurred())
		var golden struct {
			Stream   string          `json:"stream"`
			Revision int64           `json:"revision"`
			Type     string          `json:"type"`
			Data     json.RawMessage `json:"data"`
			Metadata json.RawMessage `json:"metadata"`
		}
		Expect(json.Unmarshal(raw, &golden)).To(Succeed())
		links := audit.LinksOf(golden.Metadata)
		Expect(links.PrevHash).NotTo(BeEmpty())
		var data bytes.Buffer // stored as aggregate encodes it: compact
		Expect(json.Compact(&data, golden.Data)).To(Succeed())
		h, err := audit.Seal(golden.Stream, eventstore.Revision(golden.Revision), golden.Type, data.Bytes(), golden.Metadata)
		Expect(err).NotTo(HaveOccurred())
		Expect(h).To(Equal(links.Hash))
	})

	It("ignores key order and whitespace in metadata, and nothing else", func() {
		a, _ := audit.Seal(stream, 1, "t", []byte(`{}`), []byte(`{"a":1,"b":"x"}`))
		b, _ := audit.Seal(stream, 1, "t", []byte(`{}`), []byte(`{ "b": "x", "a": 1, "hash": "sha256:00" }`))
		Expect(a).To(Equal(b))
		for _, other := range [][]any{{"payment-other", 1, "t", `{}`}, {stream, 2, "t", `{}`}, {stream, 1, "u", `{}`}, {stream, 1, "t", `{ }`}} {
			c, _ := audit.Seal(other[0].(string), eventstore.Revision(other[1].(int)), other[2].(string), []byte(other[3].(string)), []byte(`{"a":1,"b":"x"}`))
			Expect(c).NotTo(Equal(a))
		}
	})
})
