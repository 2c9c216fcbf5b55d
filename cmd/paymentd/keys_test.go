package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/access"
)

// The keys the specs' paymentd is configured with (startPaymentd), one per role.
var (
	merchantToken, operatorToken, auditorToken = access.NewToken(), access.NewToken(), access.NewToken()
	testAPIKeys                                = strings.Join([]string{
		"shop:merchant:" + access.HashOf(merchantToken).String(),
		"ops:kim:operator:" + access.HashOf(operatorToken).String(),
		"auditor:lee:auditor:" + access.HashOf(auditorToken).String(),
	}, ",")
)

// authorize gives req the key of the role its path needs (unless it has one).
func authorize(req *http.Request) {
	if req.Header.Get("Authorization") != "" {
		return
	}
	t := merchantToken
	switch p := req.URL.Path; {
	case strings.HasPrefix(p, "/admin/"), p == "/metrics":
		t = operatorToken
	case strings.HasPrefix(p, "/audit/"):
		t = auditorToken
	}
	req.Header.Set("Authorization", "Bearer "+t.Reveal())
}

var devKey = regexp.MustCompile(`export (PAYSTREAM_\w+_KEY)=(psk_\S+)`)

var _ = Describe("API keys", func() {
	It("makes development keys in the embedded default, prints them, and keeps them in the data directory", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		inst, out := startPaymentdOut(map[string]string{"PAYSTREAM_API_KEYS": "", "PAYSTREAM_DATA_DIR": dir})
		tokens := map[string]string{}
		for _, m := range devKey.FindAllStringSubmatch(out.String(), -1) {
			tokens[m[1]] = m[2]
		}
		Expect(tokens).To(HaveLen(3))
		file, err := os.ReadFile(filepath.Join(dir, "dev-keys.env"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(file)).To(ContainSubstring(tokens["PAYSTREAM_OPERATOR_KEY"]))
		info, err := os.Stat(filepath.Join(dir, "dev-keys.env"))
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))

		get := func(path, token string) int {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.url+path, nil)
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}
		Expect(get("/admin/v1/payments/attention", tokens["PAYSTREAM_OPERATOR_KEY"])).To(Equal(http.StatusOK))
		Expect(get("/admin/v1/payments/attention", tokens["PAYSTREAM_MERCHANT_KEY"])).To(Equal(http.StatusForbidden))
		Expect(get("/admin/v1/payments/attention", "psk_wrong")).To(Equal(http.StatusUnauthorized))
		Expect(out.String()).NotTo(ContainSubstring(`"psk_`), "the logs never carry a key")
		Expect(inst.stop()).To(Succeed())

		again, out2 := startPaymentdOut(map[string]string{"PAYSTREAM_API_KEYS": "", "PAYSTREAM_DATA_DIR": dir})
		DeferCleanup(again.stop)
		Expect(out2.String()).To(ContainSubstring(tokens["PAYSTREAM_AUDITOR_KEY"]), "the same keys after a restart")
	})

	It("reloads PAYSTREAM_API_KEYS_FILE on SIGHUP: rotation without a restart", func(ctx SpecContext) {
		path := filepath.Join(GinkgoT().TempDir(), "keys")
		old, next := access.NewToken(), access.NewToken()
		Expect(os.WriteFile(path, []byte("ops operator "+access.HashOf(old).String()+"\n"), 0o600)).To(Succeed())
		inst := startPaymentd(map[string]string{"PAYSTREAM_API_KEYS": "", "PAYSTREAM_API_KEYS_FILE": path})
		DeferCleanup(inst.stop)
		status := func(t access.Token) int {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.url+"/admin/v1/payments/attention", nil)
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Authorization", "Bearer "+t.Reveal())
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}
		Expect(status(old)).To(Equal(http.StatusOK))
		Expect(status(next)).To(Equal(http.StatusUnauthorized))
		Expect(os.WriteFile(path, []byte("ops operator "+access.HashOf(next).String()+"\n"), 0o600)).To(Succeed())
		Expect(syscall.Kill(os.Getpid(), syscall.SIGHUP)).To(Succeed())
		Eventually(func() int { return status(next) }).WithContext(ctx).Should(Equal(http.StatusOK))
		Expect(status(old)).To(Equal(http.StatusUnauthorized))
	})
})
