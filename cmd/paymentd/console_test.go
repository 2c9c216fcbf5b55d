package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/access"
)

// chromiumPath is Debian's Chromium (.ci/run installs it). A missing browser fails the
// console specs; it never skips them.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile, as notes/environment.md says to
// run it here (no sandbox as root, nothing reaching the internet), and returns a tab.
func newBrowser(width, height int) context.Context {
	GinkgoHelper()
	_, err := os.Stat(chromiumPath)
	Expect(err).NotTo(HaveOccurred(), "the console specs need Chromium: apt-get install -y chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(GinkgoT().TempDir()), chromedp.WindowSize(width, height), chromedp.DisableGPU,
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("lang", "en-US"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	DeferCleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	DeferCleanup(cancel)
	Expect(chromedp.Do(ctx, chromedp.Navigate("about:blank"))).To(Succeed()) // starts the browser
	return ctx
}

// screenshotDir is where the spec keeps its screenshots: PAYSTREAM_CONSOLE_SCREENSHOTS
// (docs/ when refreshing the README's), a temporary directory otherwise.
func screenshotDir() string {
	if dir := os.Getenv("PAYSTREAM_CONSOLE_SCREENSHOTS"); dir != "" {
		return dir
	}
	return GinkgoT().TempDir()
}

var _ = Describe("the console in a real browser (headless Chromium)", Ordered, func() {
	var (
		inst                 instance
		tab                  context.Context
		shots                string
		paid, paidKey, stuck string
	)

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		GinkgoHelper()
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		Expect(chromedp.Do(ctx, steps...)).To(Succeed())
	}
	eval := func(expr string) any {
		GinkgoHelper()
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
		Expect(err).NotTo(HaveOccurred(), expr)
		return v
	}
	text := func(css string) string {
		GinkgoHelper()
		s, _ := eval(fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ''`, css)).(string)
		return s
	}
	eventually := func(expr string) {
		GinkgoHelper()
		Eventually(func() any { return eval(`(() => { try { return ` + expr + ` } catch (e) { return String(e) } })()`) }).
			WithTimeout(20*time.Second).WithPolling(200*time.Millisecond).
			Should(Equal(true), func() string {
				return expr + "\npage: " + fmt.Sprint(eval(`document.body.innerText`)) +
					fmt.Sprintf("\nread model: %v", call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).body)
			})
	}
	shoot := func(name string, full bool) {
		GinkgoHelper()
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		action := chromedp.CaptureScreenshot()
		if full {
			action = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, action)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)).To(Succeed())
	}
	signIn := func(token access.Token) {
		GinkgoHelper()
		do(chromedp.Navigate(inst.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#apikey")),
			chromedp.SendKeys(chromedp.CSS("#apikey"), token.Reveal()), chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
		eventually(`document.getElementById('top').hidden === false`)
	}
	goTo := func(hash string) {
		GinkgoHelper()
		eval(fmt.Sprintf(`location.hash = %q`, hash))
	}

	BeforeAll(func() {
		// Recovery gives up quickly, so that a payment Toss never answers is escalated.
		inst = startPaymentd(map[string]string{"PAYSTREAM_CONFIRM_TIMEOUT": "300ms", "PAYSTREAM_RECOVERY_INTERVAL": "50ms",
			"PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT": "100ms", "PAYSTREAM_RECOVERY_THRESHOLD": "2",
			"PAYSTREAM_RECOVERY_BACKOFF": "50ms", "PAYSTREAM_RECOVERY_BACKOFF_MAX": "100ms"})
		DeferCleanup(func() { Expect(inst.stop()).To(Succeed()) })
		for range 4 {
			orderID, key, amount := checkoutAndAuthorise(inst)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
			paid, paidKey = orderID, key
		}
		var key, amount string
		stuck, key, amount = checkoutAndAuthorise(inst)
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"rateTimeout":1}`).status).To(Equal(http.StatusOK))
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(stuck, key, amount)).status).To(Equal(http.StatusAccepted))
		Eventually(func() []any {
			return call(http.MethodGet, inst.url+"/admin/v1/payments/attention", nil).body["escalated"].([]any)
		}).WithTimeout(10 * time.Second).Should(HaveLen(1))
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{}`).status).To(Equal(http.StatusOK))
		Eventually(func() any {
			return call(http.MethodGet, inst.url+"/v1/payments/"+paid, nil).body["isPaymentDone"]
		}).WithTimeout(15 * time.Second).Should(BeTrue())

		tab = newBrowser(1366, 900)
		shots = screenshotDir()
	})

	It("serves its pages with a Content-Security-Policy of its own assets only, and the API still wants a key", func() {
		resp, err := http.Get(inst.url + "/console/")
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		csp := resp.Header.Get("Content-Security-Policy")
		Expect(csp).To(ContainSubstring("default-src 'self'"))
		Expect(csp).To(ContainSubstring("script-src 'self';"))
		Expect(csp).To(ContainSubstring("frame-ancestors 'none'"))
		Expect(csp).NotTo(ContainSubstring("unsafe"))
		resp, err = http.Get(inst.url + "/v1/payments")
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
	})

	It("signs an operator in with a session cookie scripts cannot read, and shows the overview live", func() {
		do(chromedp.Navigate(inst.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#apikey")),
			chromedp.SendKeys(chromedp.CSS("#apikey"), access.NewToken().Reveal()), chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
		eventually(`document.querySelector('#signin .error').innerText.includes('401')`)
		signIn(operatorToken)
		eventually(`!!document.querySelector('#overview .chart')`)
		Expect(eval(`document.cookie`)).To(Equal(""), "HttpOnly")
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		cookies, err := chromedp.Run(ctx, chromedp.Action[[]*network.Cookie](func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
			r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{inst.url + "/"}})
			return r.Cookies, err
		}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cookies).To(HaveLen(1))
		Expect(cookies[0].Name).To(Equal("paystream_session"))
		Expect(cookies[0].HTTPOnly).To(BeTrue())
		Expect(cookies[0].SameSite).To(Equal(network.CookieSameSiteStrict))
		Expect(cookies[0].Value).NotTo(ContainSubstring(operatorToken.Reveal()))

		// More payments while the overview watches (it scrapes every 3 s): its charts draw what
		// happened between scrapes.
		for i := range 12 {
			orderID, key, amount := checkoutAndAuthorise(inst)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
			points := i/2 + 1
			eventually(fmt.Sprintf(`[...document.querySelectorAll('#overview polyline')].some((p) => (p.getAttribute('points') || '').split(' ').length >= %d)`, points))
		}
		Expect(text("#overview")).To(ContainSubstring("Payments / min"))
		Expect(text("#overview")).To(ContainSubstring("projector"))
		shoot("console-overview", false)
	})

	It("finds a payment by orderId and by paymentKey, opens its timeline and steps the as-of view", func() {
		goTo("#/payments")
		eventually(`!!document.querySelector('#payments tbody tr')`)
		Expect(text("#payments")).To(ContainSubstring("₩61,000"))
		Expect(text("#payments")).To(MatchRegexp(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d KST`))
		Expect(eval(`document.querySelector('#payments time').title`)).To(HaveSuffix("Z (UTC)"))
		shoot("console-payments", false)

		do(chromedp.SendKeys(chromedp.CSS("#search"), paidKey), chromedp.Click(chromedp.CSS("#searchform button[type=submit]")))
		eventually(fmt.Sprintf(`location.hash.startsWith('#/payment/%s')`, paid))
		goTo("#/payments")
		eventually(`!!document.querySelector('#search')`)
		do(chromedp.SendKeys(chromedp.CSS("#search"), paid), chromedp.Click(chromedp.CSS("#searchform button[type=submit]")))
		eventually(`document.querySelectorAll('#timeline li').length >= 3`)
		Expect(text("#timeline")).To(ContainSubstring("checkout created"))
		Expect(text("#timeline")).To(ContainSubstring("psp approved"))
		Expect(text("#verify-result")).To(ContainSubstring("Intact"))
		eventually(`document.querySelector('#asof h2').innerText.includes('r' + (document.querySelectorAll('#timeline li').length - 1))`)

		// Evidence on demand, and the request that caused an event.
		do(chromedp.Click(chromedp.CSS("#timeline li[data-rev='2'] .evtoggle")))
		eventually(`!document.querySelector("#timeline li[data-rev='2'] pre.evidence").hidden`)
		Expect(text("#timeline li[data-rev='2'] pre.evidence")).To(ContainSubstring(`"status"`))

		// Step back to the execution, with the button and then the keyboard.
		do(chromedp.Click(chromedp.CSS("#timeline li[data-rev='2'] .pick")))
		eventually(`document.querySelector('#asof h2').innerText.includes('r2')`)
		Expect(text("#asof-state")).To(ContainSubstring("Paid"))
		do(chromedp.Click(chromedp.CSS("#earlier")))
		eventually(`document.querySelector('#asof h2').innerText.includes('r1')`)
		Expect(text("#asof-state")).To(ContainSubstring("Executing"))
		do(chromedp.KeyEvent(kb.ArrowLeft))
		eventually(`document.querySelector('#asof h2').innerText.includes('r0')`)
		Expect(text("#asof-state")).To(ContainSubstring("Not started"))
		do(chromedp.KeyEvent(kb.ArrowRight))
		eventually(`document.querySelector('#asof h2').innerText.includes('r1')`)
		Expect(text("#asof-state")).To(ContainSubstring("₩61,000"))
		do(chromedp.EmulateViewport(1366, 1250)) // the whole timeline on one screen
		shoot("console-payment", false)
		do(chromedp.EmulateViewport(1366, 900))
	})

	It("resolves an escalated payment: Toss's record first, asked again before forcing, and the timeline gains the event", func() {
		goTo("#/attention")
		eventually(fmt.Sprintf(`!!document.querySelector('#escalated tr[data-order=%q] .resolve')`, stuck))
		noCSRF := eval(fmt.Sprintf(`fetch('/admin/v1/payments/%s/resolve', {method: 'POST', headers: {'Content-Type': 'application/json'},
			body: '{"resolution":"FAILURE","reason":"no token"}'}).then((r) => r.json()).then((p) => p.status + ' ' + p.detail)`, stuck))
		Expect(noCSRF).To(HavePrefix("403 "), "the cookie without the session's CSRF token changes nothing")
		Expect(noCSRF).To(ContainSubstring("X-CSRF-Token"))
		Expect(text("#escalated")).To(ContainSubstring("₩61,000"))
		shoot("console-attention", false)

		do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#escalated tr[data-order=%q] .resolve`, stuck))))
		eventually(`document.getElementById('dialog').open && !!document.getElementById('tossrecord')`)
		// SUCCESS contradicts Toss's record (the session was never confirmed): asked again, declined.
		eval(`document.getElementById('f-resolution').value = 'SUCCESS'`)
		do(chromedp.SendKeys(chromedp.CSS("#f-reason"), "buyer insists"))
		shoot("console-resolve", false)
		do(chromedp.Click(chromedp.CSS("#dialog button[type=submit]")))
		eventually(`document.getElementById('dialog').open && !!document.getElementById('f-confirmId')`)
		Expect(text("#dialog")).To(ContainSubstring("Force"))
		do(chromedp.Click(chromedp.CSS("#dialog button.ghost")))
		eventually(`!document.getElementById('dialog').open`)
		Expect(call(http.MethodGet, inst.url+"/v1/payments/"+stuck, nil).body["status"]).To(Equal("UNKNOWN"), "nothing recorded")

		do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#escalated tr[data-order=%q] .resolve`, stuck))))
		eventually(`document.getElementById('dialog').open && !!document.getElementById('f-reason')`)
		eval(`document.getElementById('f-resolution').value = 'FAILURE'`)
		do(chromedp.SendKeys(chromedp.CSS("#f-reason"), "Toss shows the session unconfirmed"),
			chromedp.Click(chromedp.CSS("#dialog button[type=submit]")))
		eventually(`document.getElementById('toast').innerText.includes('payment.manually-resolved.v1')`)
		eventually(`!document.querySelector('#escalated tr')`)

		goTo("#/payment/" + stuck)
		eventually(`[...document.querySelectorAll('#timeline li')].some((li) => li.innerText.includes('manually resolved'))`)
		last := text("#timeline li:last-child")
		Expect(last).To(ContainSubstring("manually resolved"))
		Expect(last).To(ContainSubstring("ops:kim"))
		Expect(last).To(ContainSubstring("Toss shows the session unconfirmed"))
		Expect(text("#asof-state")).To(ContainSubstring("Failed"))
	})

	It("shows followers, checkpoints and dead letters, and verifies the read model for an operator", func() {
		goTo("#/health")
		eventually(`!!document.querySelector('#followers tbody tr')`)
		Expect(text("#followers")).To(ContainSubstring("projector"))
		Expect(text("#followers")).To(ContainSubstring("forwarder"))
		Expect(text("#readmodel")).To(ContainSubstring("memory"))
		do(chromedp.Click(chromedp.CSS("#verify-rm")))
		eventually(`document.getElementById('verify-summary').innerText.includes('no drift')`)
		shoot("console-health", false)
	})

	It("is usable on a phone", func() {
		do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		DeferCleanup(func() { do(chromedp.EmulateViewport(1366, 900)) })
		goTo("#/payment/" + paid)
		eventually(`document.querySelectorAll('#timeline li').length >= 3`)
		Expect(eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`)).To(BeTrue(), "no sideways scrolling")
		shoot("console-phone", false)
	})

	It("shows an auditor no actions, and the server refuses one anyway", func() {
		do(chromedp.Click(chromedp.CSS("#signout")))
		eventually(`!!document.getElementById('apikey')`)
		signIn(auditorToken)
		eventually(`!!document.querySelector('#payments tbody tr')`)
		Expect(text("#nav")).NotTo(ContainSubstring("Attention"))
		goTo("#/payment/" + stuck)
		eventually(`!!document.getElementById('readonly') && document.querySelectorAll('#timeline li').length > 0`)
		Expect(eval(`document.querySelectorAll('#main button.primary, #main button.danger, .resolve').length`)).To(BeNumerically("==", 0))
		Expect(text("#timeline")).To(ContainSubstring("manually resolved"))

		goTo("#/attention")
		eventually(`!!document.getElementById('refused')`)
		Expect(text("#refused")).To(ContainSubstring("403"))
		status := eval(fmt.Sprintf(`import('/console/js/api.js').then((api) => api.post('/admin/v1/payments/%s/resolve',
			{resolution: 'SUCCESS', reason: 'an auditor tries'}).then(() => 200, (err) => err.status))`, stuck))
		Expect(status).To(BeNumerically("==", 403))
		Expect(call(http.MethodGet, inst.url+"/v1/payments/"+stuck, nil).body["status"]).To(Equal("FAILURE"), "as the operator resolved it")
	})
})
