package access_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/access"
)

var _ = Describe("Keyring", func() {
	var (
		merchant, operator access.Token
		ring               *access.Keyring
	)
	BeforeEach(func() {
		merchant, operator = access.NewToken(), access.NewToken()
		keys, err := access.ParseKeys(strings.NewReader(fmt.Sprintf("# shop\nshop merchant %s\n\nops:kim:operator:%s\n",
			access.HashOf(merchant), access.HashOf(operator))))
		Expect(err).NotTo(HaveOccurred())
		ring = access.NewKeyring(keys)
	})

	It("authenticates each configured token as its key's name and role", func() {
		Expect(ring.Authenticate(merchant)).To(Equal(access.Principal{Name: "shop", Role: access.Merchant}))
		Expect(ring.Authenticate(operator)).To(Equal(access.Principal{Name: "ops:kim", Role: access.Operator}))
	})

	It("refuses a missing or unknown token", func() {
		_, err := ring.Authenticate("")
		Expect(err).To(MatchError(access.ErrNoCredential))
		_, err = ring.Authenticate(access.NewToken())
		Expect(err).To(MatchError(access.ErrUnknownCredential))
		_, err = ring.Authenticate(access.Token(access.HashOf(merchant).String()))
		Expect(err).To(MatchError(access.ErrUnknownCredential), "the hash is not a credential")
	})

	It("rotates without a restart: both keys of a name work until the old one is removed", func() {
		next := access.NewToken()
		ring.Replace([]access.Key{{Name: "shop", Role: access.Merchant, Hash: access.HashOf(merchant)},
			{Name: "shop", Role: access.Merchant, Hash: access.HashOf(next)}})
		Expect(ring.Authenticate(merchant)).To(Equal(access.Principal{Name: "shop", Role: access.Merchant}))
		Expect(ring.Authenticate(next)).To(Equal(access.Principal{Name: "shop", Role: access.Merchant}))
		ring.Replace([]access.Key{{Name: "shop", Role: access.Merchant, Hash: access.HashOf(next)}})
		_, err := ring.Authenticate(merchant)
		Expect(err).To(MatchError(access.ErrUnknownCredential))
	})

	It("never logs or prints a token", func() {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", merchant)
		Expect(buf.String()).NotTo(ContainSubstring(merchant.Reveal()))
		Expect(fmt.Sprintf("%v %s", merchant, merchant)).NotTo(ContainSubstring(merchant.Reveal()))
	})

	DescribeTable("refuses bad key lines, naming the line and never echoing a token",
		func(line, want string) {
			_, err := access.ParseKeys(strings.NewReader("\n" + line))
			Expect(err).To(MatchError(ContainSubstring("line 2 entry 1: " + want)))
			Expect(err.Error()).NotTo(ContainSubstring("psk_"))
		},
		Entry("too few fields", "shop merchant", "want"),
		Entry("unknown role", "shop admin sha256:"+strings.Repeat("0", 64), `role "admin"`),
		Entry("not a hash", "shop merchant sha256:xyz", "the hash is not"),
		Entry("a token instead of its hash", "shop merchant "+string(access.NewToken()), "the hash is a token"),
	)

	It("reads the bearer token of an Authorization header", func() {
		Expect(access.BearerToken("Bearer abc")).To(Equal(access.Token("abc")))
		Expect(access.BearerToken("bearer  abc ")).To(Equal(access.Token("abc")))
		Expect(access.BearerToken("Basic abc")).To(BeEmpty())
		Expect(access.BearerToken("")).To(BeEmpty())
	})
})

var _ = Describe("Limiter", func() {
	It("allows a burst per key, then refills at the rate", func() {
		now := time.Unix(0, 0)
		l := access.NewLimiter(access.Rate{PerSecond: 2, Burst: 3}, func() time.Time { return now })
		for range 3 {
			Expect(l.Allow("shop")).To(BeTrue())
		}
		ok, wait := l.Allow("shop")
		Expect(ok).To(BeFalse())
		Expect(wait).To(Equal(500 * time.Millisecond))
		Expect(l.Allow("other")).To(BeTrue(), "buckets are per key")
		now = now.Add(500 * time.Millisecond)
		Expect(l.Allow("shop")).To(BeTrue())
	})

	It("parses rates", func() {
		Expect(access.ParseRate("off")).To(Equal(access.Rate{}))
		Expect(access.ParseRate("50/s")).To(Equal(access.Rate{PerSecond: 50, Burst: 50}))
		Expect(access.ParseRate("0.5/s,burst=4")).To(Equal(access.Rate{PerSecond: 0.5, Burst: 4}))
		_, err := access.ParseRate("fast")
		Expect(err).To(HaveOccurred())
	})
})
