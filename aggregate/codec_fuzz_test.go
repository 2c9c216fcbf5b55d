package aggregate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

// FuzzCodec feeds stored events to Decode: every golden file in testdata/events is a seed,
// under its own name and under every other (a payload stored under the wrong name is the
// likeliest damage); testdata/fuzz/FuzzCodec adds shapes the golden files do not have.
// Properties: Decode never panics; whatever it decodes, Encode accepts, and the encoding
// decodes to the same event and encodes to the same bytes again.
//
//	go test -run '^$' -fuzz '^FuzzCodec$' -fuzztime 3m ./aggregate/
func FuzzCodec(f *testing.F) {
	names := EventNames()
	slices.Sort(names)                                              // so that an unknown name stands for the same known one in every run
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json")) // other packages' events too
	if err != nil || len(files) < len(names) {
		f.Fatalf("golden files: %v, %v", files, err)
	}
	for _, file := range files {
		golden, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range names {
			f.Add(name, golden)
		}
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		g := NewWithT(t)
		if !slices.Contains(names, name) { // unknown names only fail; try the data as one we know
			name = names[len(name)%len(names)]
		}
		e, err := Decode(name, data)
		if err != nil {
			return
		}
		g.Expect(e.EventName()).To(Equal(name))

		gotName, encoded, err := Encode(e)
		g.Expect(err).NotTo(HaveOccurred(), "a decoded event encodes")
		g.Expect(gotName).To(Equal(name))
		again, err := Decode(gotName, encoded)
		g.Expect(err).NotTo(HaveOccurred(), "what Encode wrote decodes: %s", encoded)
		g.Expect(withoutEvidence(again)).To(BeComparableTo(withoutEvidence(e)), "round trip of %s", encoded)
		if ev, ok := evidenceOf(e); ok {
			evAgain, _ := evidenceOf(again)
			if ev == nil {
				g.Expect(evAgain).To(BeNil())
			} else {
				g.Expect(evAgain).To(MatchJSON(ev), "evidence is kept as the same JSON")
			}
		}
		_, reencoded, err := Encode(again)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(reencoded, encoded)).To(BeTrue(), "the encoding is stable:\n%s\n%s", encoded, reencoded)
	})
}

// evidenceOf returns an event's Evidence (PSP answers kept verbatim as JSON) if it has one.
// BeComparableTo compares it byte by byte, where the same JSON may be spaced or escaped
// differently once re-encoded; it is compared as JSON instead.
func evidenceOf(e Event) ([]byte, bool) {
	f := reflect.ValueOf(e).FieldByName("Evidence")
	if !f.IsValid() {
		return nil, false
	}
	return f.Bytes(), true
}

func withoutEvidence(e Event) Event {
	v := reflect.New(reflect.TypeOf(e)).Elem()
	v.Set(reflect.ValueOf(e))
	if f := v.FieldByName("Evidence"); f.IsValid() {
		f.SetBytes(nil)
	}
	return v.Interface().(Event)
}
