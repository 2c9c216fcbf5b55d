package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/toss"
)

var _ = Describe("PAYSTREAM_RECONCILE_INTERVAL", func() {
	It("is off by default, takes a duration of a minute or more, and names itself when wrong", func() {
		cfg, err := LoadConfig(nil, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.ReconcileInterval).To(BeZero())
		cfg, err = LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_RECONCILE_INTERVAL": "1h"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.ReconcileInterval).To(Equal(time.Hour))
		cfg, err = LoadConfig([]string{"-reconcile-interval", "off"}, envOf(map[string]string{"PAYSTREAM_RECONCILE_INTERVAL": "1h"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.ReconcileInterval).To(BeZero(), "the flag overrides")
		for _, bad := range []string{"soon", "10s", "-1h"} {
			_, err = LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_RECONCILE_INTERVAL": bad}))
			Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_RECONCILE_INTERVAL")), bad)
		}
	})
})

// reconcileRun runs a reconciliation of today (KST) through the operator route and returns
// the progress lines seen and the report.
func reconcileRun(inst instance) (progress int, report map[string]any) {
	GinkgoHelper()
	today := time.Now().In(toss.KST).Format("2006-01-02")
	req, err := http.NewRequest(http.MethodPost, inst.url+"/admin/v1/reconciliation/runs?from="+today, nil)
	Expect(err).NotTo(HaveOccurred())
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		Expect(json.Unmarshal(sc.Bytes(), &line)).To(Succeed())
		Expect(line).NotTo(HaveKey("error"))
		if line["progress"] != nil {
			progress++
		}
		if r, ok := line["report"].(map[string]any); ok {
			report = r
		}
	}
	Expect(report).NotTo(BeNil())
	return progress, report
}

var _ = Describe("paymentd reconciliation end to end (embedded default)", func() {
	It("finds a console cancel whose webhook was dropped, records it through the normal commands, and a second run finds nothing new", func() {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"webhookRateDrop":1}`).status).To(Equal(http.StatusOK))

		kept, key, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(kept, key, amount)).status).To(Equal(http.StatusOK))
		cancelled, key, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(cancelled, key, amount)).status).To(Equal(http.StatusOK))
		Expect(call(http.MethodPost, inst.simURL+"/sim/v1/payments/"+key+"/console-cancel",
			`{"cancelReason":"card company","cancelAmount":12500}`).status).To(Equal(http.StatusOK))
		Eventually(func() int { // the read model lists the payments the run checks
			return len(asSlice(call(http.MethodGet, inst.url+"/v1/payments", nil).body["items"]))
		}).Should(Equal(2))

		progress, first := reconcileRun(inst)
		Expect(progress).To(BeNumerically(">", 0))
		mismatches := asSlice(first["mismatches"])
		Expect(mismatches).To(HaveLen(1))
		m := mismatches[0].(map[string]any)
		Expect(m["kind"]).To(Equal("cancel-not-recorded"))
		Expect(m["orderId"]).To(Equal(cancelled))
		Expect(m["fix"].(map[string]any)["fixed"]).To(BeTrue())
		completed := first["completed"].(map[string]any)
		Expect(completed["tiesOut"]).To(BeTrue(), "%v", completed["totals"])
		Expect(typesOf(historyOf(inst, cancelled))).To(ContainElement("payment.external-refund-recorded.v1"))

		_, second := reconcileRun(inst)
		Expect(second["mismatches"]).To(BeEmpty())
		Expect(second["completed"].(map[string]any)["new"]).To(BeZero())

		open := call(http.MethodGet, inst.url+"/admin/v1/reconciliation/mismatches", nil)
		Expect(open.status).To(Equal(http.StatusOK))
		Expect(open.body["mismatches"]).To(BeEmpty())

		today := time.Now().In(toss.KST).Format("2006-01-02")
		req, err := http.NewRequest(http.MethodGet, inst.url+"/admin/v1/reconciliation/report?format=csv&from="+today, nil)
		Expect(err).NotTo(HaveOccurred())
		authorize(req)
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		csv, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(strings.Count(string(csv), "\nsettlement")+strings.Count(string(csv), ",settlement,")).To(Equal(3),
			"two approvals and the console cancel, settled")

		Expect(scrape(inst)).To(ContainSubstring(`paystream_reconciliation_fixed_total 1`))
		Expect(scrape(inst)).To(ContainSubstring(fmt.Sprintf(`paystream_reconciliation_mismatches_total{class=%q} 1`, "auto-fixable")))
	})
})
