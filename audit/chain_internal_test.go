package audit

import (
	"testing"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// metadataSamples are event metadata as paystream writes it and the edge cases the fast
// path must hand to the general way.
var metadataSamples = []string{
	`{"correlationId":"req_1","causationId":"req_1","commandId":"cmd_1","actor":"merchant:key_1","schemaVersion":1,"prevHash":"sha256:ab","hash":"sha256:cd"}`,
	`{ "b" : [1, {"z" : 2, "a" : "x y"}], "a" : null , "a!" : true } `, // whitespace; "a" sorts before "a!"
	`{"actor":"운영자"}`, `{"actor":"a<b"}`, `{"actor":"a\"b"}`, // non-ASCII, HTML-special, escaped
	`{"a":1,"a":2}`, `{"a":1} {}`, `{"a":1} x`, `{"a":`, `[]`, `null`, ``, `{}`, `{"hash":"only"}`,
	`{"n":1e400,"m":-0.50}`,
	`{"hash":"a","hash":"b","prevHash":null}`, `{"Hash":"a"}`, `{"hash":1}`, `{"hash":"a","prevHash":{"x":"y"}}`,
	`{"actor":"a&b","hash":"x y"}`,
}

// generalLinks is LinksOf without its fast path.
func generalLinks(metadata []byte) (l Links) {
	_ = json.Unmarshal(metadata, &l)
	return l
}

// generalCanonical is canonicalMetadata without its fast path.
func generalCanonical(metadata []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return nil, err
		}
	}
	delete(m, FieldHash)
	return json.Marshal(m)
}

var _ = Describe("canonical metadata", func() {
	It("gives the general way's bytes for every metadata its fast path takes, and takes paystream's", func() {
		for _, md := range metadataSamples {
			if out, ok := canonicalASCII([]byte(md)); ok {
				want, err := generalCanonical([]byte(md))
				Expect(err).NotTo(HaveOccurred(), md)
				Expect(string(out)).To(Equal(string(want)), md)
			}
		}
		out, ok := canonicalASCII([]byte(metadataSamples[0]))
		Expect(ok).To(BeTrue())
		Expect(string(out)).To(Equal(`{"actor":"merchant:key_1","causationId":"req_1","commandId":"cmd_1","correlationId":"req_1","prevHash":"sha256:ab","schemaVersion":1}`))
		out, ok = canonicalASCII([]byte(metadataSamples[1]))
		Expect(ok).To(BeTrue())
		Expect(string(out)).To(Equal(`{"a":null,"a!":true,"b":[1,{"z":2,"a":"x y"}]}`))
	})

	It("reads the chain fields as json.Unmarshal does, and leaves other case and other types to it", func() {
		for _, md := range metadataSamples {
			Expect(LinksOf([]byte(md))).To(Equal(generalLinks([]byte(md))), md)
		}
		Expect(LinksOf([]byte(metadataSamples[0]))).To(Equal(Links{Hash: "sha256:cd", PrevHash: "sha256:ab"}))
		Expect(LinksOf([]byte(`{"hash":"a","hash":"b","prevHash":null}`))).To(Equal(Links{Hash: "b"}))
		Expect(LinksOf([]byte(`{"Hash":"a"}`))).To(Equal(Links{Hash: "a"}))
		for _, md := range []string{`{"Hash":"a"}`, `{"hash":1}`, `{"prevHash":{"x":"y"}}`, `{"hash":"운영자"}`, `[]`, `{"a":1} x`} {
			var v [2]string
			Expect(StringMembers([]byte(md), linkNames[:], v[:])).To(BeFalse(), md)
		}
	})

	It("hands anything else to the general way, which refuses what json.Unmarshal refuses", func() {
		for _, md := range []string{`{"actor":"운영자"}`, `{"actor":"a<b"}`, `{"a":1,"a":2}`, `{"a":1} x`, `[]`, `null`, ``} {
			_, ok := canonicalASCII([]byte(md))
			Expect(ok).To(BeFalse(), md)
		}
		_, err := canonicalMetadata([]byte(`{"a":1} x`))
		Expect(err).To(HaveOccurred())
	})
})

// FuzzCanonicalMetadata: whatever the fast paths take, they give exactly what the general
// ways give: canonicalASCII's bytes, and LinksOf's fields (StringMembers).
func FuzzCanonicalMetadata(f *testing.F) {
	for _, md := range metadataSamples {
		f.Add([]byte(md))
	}
	f.Fuzz(func(t *testing.T, md []byte) {
		if got, want := LinksOf(md), generalLinks(md); got != want {
			t.Fatalf("LinksOf(%q) = %+v, general = %+v", md, got, want)
		}
		out, ok := canonicalASCII(md)
		if !ok {
			return
		}
		want, err := generalCanonical(md)
		if err != nil || string(out) != string(want) {
			t.Fatalf("canonicalASCII(%q) = %s, general = %s (%v)", md, out, want, err)
		}
	})
}

// BenchmarkCanonicalMetadata: an event's metadata, the fast path and the general way.
func BenchmarkCanonicalMetadata(b *testing.B) {
	md := []byte(metadataSamples[0])
	b.Run("ascii", func(b *testing.B) {
		for b.Loop() {
			_, _ = canonicalMetadata(md)
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			_, _ = generalCanonical(md)
		}
	})
}

// BenchmarkLinksOf: an event's chain fields, the fast path and the general way.
func BenchmarkLinksOf(b *testing.B) {
	md := []byte(metadataSamples[0])
	b.Run("ascii", func(b *testing.B) {
		for b.Loop() {
			_ = LinksOf(md)
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			_ = generalLinks(md)
		}
	})
}
