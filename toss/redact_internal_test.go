package toss

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// redactBodies are Toss-shaped answers and the edge cases the fast path must hand over.
var redactBodies = []string{
	`{"mId":"tosspayments","paymentKey":"pk_1","orderId":"ord_1","orderName":"토스 티셔츠 외 2건","status":"DONE",` +
		`"totalAmount":61000,"balanceAmount":61000.0,"card":{"number":"4330****1234","issuerCode":"71"},` +
		`"virtualAccount":{"accountNumber":"X","customerName":"김토스","dueDate":"2026-12-01T00:00:00+09:00"},` +
		`"secret":"ps_1","customerEmail":null,"cancels":[{"cancelAmount":1000,"cancelReason":"고객 변심"}],"easyPay":null}`,
	` {"b":1,"a":[1,2,{"z":true,"customerKey":{"x":1}}]} trailing`,
	`{"code":"NOT_FOUND_PAYMENT","message":"존재하지 않는 결제 정보 입니다."}`,
	`{"message":"a <b> & c"}`,             // escaped for HTML by encoding/json
	`{"message":"line\nbreak \u00e9 \/"}`, // escapes
	`{"message":"sep` + "\u2028" + `"}`,   // written escaped by encoding/json
	`{"a":1,"a":2}`,                       // duplicate names: the last wins in a map
	"{\"a\":\"\xff\"}",                    // invalid UTF-8
	`{"a":1e400,"b":-0,"c":1.50E+3}`,      // numbers keep their literal
	`<html>bad gateway</html>`, `{"a":`, `[]`, `"s"`, `12`, `null`, `{}`, `{"number":null}`,
}

var _ = Describe("redact", func() {
	It("gives the general way's bytes for every body its fast path takes, and takes Toss's answers", func() {
		for _, body := range redactBodies {
			if out, ok := redactPlain([]byte(body)); ok {
				Expect(string(out)).To(Equal(string(redactGeneral([]byte(body)))), body)
			}
		}
		_, ok := redactPlain([]byte(redactBodies[0]))
		Expect(ok).To(BeTrue())
		Expect(string(redact([]byte(redactBodies[0])))).To(And(
			ContainSubstring(`"card":{"issuerCode":"71","number":"[REDACTED]"}`),
			ContainSubstring(`"secret":"[REDACTED]"`), ContainSubstring(`"customerEmail":null`),
			ContainSubstring(`"balanceAmount":61000.0`), ContainSubstring(`"orderName":"토스 티셔츠 외 2건"`)))
	})

	It("writes HTML-special and escaped strings as encoding/json does, and hands duplicate names and invalid UTF-8 to the general way", func() {
		for _, body := range redactBodies[3:6] {
			_, ok := redactPlain([]byte(body))
			Expect(ok).To(BeTrue(), body)
		}
		for _, body := range redactBodies[6:8] {
			_, ok := redactPlain([]byte(body))
			Expect(ok).To(BeFalse(), body)
		}
		Expect(string(redact([]byte(`{"message":"a <b> & c","\u0061\u0026":"https://x/?a=1\u0026b=2"}`)))).To(
			Equal(`{"a\u0026":"https://x/?a=1\u0026b=2","message":"a \u003cb\u003e \u0026 c"}`))
	})
})

// FuzzRedact: whatever the fast path takes, it redacts exactly as the general way.
func FuzzRedact(f *testing.F) {
	for _, b := range redactBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if out, ok := redactPlain(body); ok {
			if want := redactGeneral(body); string(out) != string(want) {
				t.Fatalf("redactPlain(%q) = %s, redactGeneral = %s", body, out, want)
			}
		}
	})
}

// BenchmarkRedact: a confirm's answer, the fast path and the general way.
func BenchmarkRedact(b *testing.B) {
	body := []byte(redactBodies[0])
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			redact(body)
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			redactGeneral(body)
		}
	})
}
