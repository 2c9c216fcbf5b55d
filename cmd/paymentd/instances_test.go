package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore/esdbtest"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

// readyzOf polls GET /readyz of inst: "<status code> <body>", or the error.
func readyzOf(inst instance) func() string {
	return func() string {
		resp, err := http.Get(inst.url + "/readyz")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
}

// Two paymentd instances share one event store (the EventStoreDB emulator), one PostgreSQL
// and one broker: one forwards while the other stands by, ready, and takes over when the
// first stops. (The chaos run, cmd/paymentchaos -instances 2, does the same with kill -9.)
var _ = Describe("two paymentd instances sharing an event store, a database and a broker", func() {
	It("forward every approval once: one forwards, the other stands by ready and takes over", func(ctx SpecContext) {
		emulator, err := esdbtest.Start(esdbtest.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(emulator.Stop)
		cluster, err := kafkatest.Backends()[0].Start(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		env := map[string]string{"EVENTSTORE_URL": emulator.URL(), "DATABASE_URL": databaseURL(ctx),
			"KAFKA_BROKERS": strings.Join(cluster.Brokers(), ",")}
		first, second := startPaymentd(env), startPaymentd(env)
		running := map[*instance]bool{&first: true, &second: true}
		DeferCleanup(func() {
			for inst, up := range running {
				if up {
					Expect(inst.stop()).To(Succeed())
				}
			}
		})

		// Past the stall time: the forwarder standing by is not a stalled follower.
		for range 3 {
			for _, inst := range []instance{first, second} {
				Eventually(readyzOf(inst)).WithContext(ctx).WithTimeout(30 * time.Second).Should(HavePrefix("200"))
			}
			time.Sleep(3 * time.Second)
		}

		forwarded := func(orderIDs ...string) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, cluster.Brokers(), kafkamsg.TopicApproved)
				g.Expect(err).NotTo(HaveOccurred())
				var keys []string
				for _, r := range recs {
					keys = append(keys, string(r.Key))
				}
				g.Expect(keys).To(ConsistOf(orderIDs), "every approval, once")
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		}
		confirm := func(inst instance) string {
			GinkgoHelper()
			orderID, key, amount := checkoutAndAuthorise(inst)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
			return orderID
		}
		a, b := confirm(first), confirm(second)
		forwarded(a, b)
		// Whichever took the lease forwards; the other stands by.
		const idle = `(?m)^paystream_follower_position\{follower="forwarder"\} 0$`
		standingBy := MatchRegexp(idle)
		holder, standby := &first, &second
		if regexp.MustCompile(idle).MatchString(scrape(first)) {
			holder, standby = &second, &first
		}
		Expect(scrape(*holder)).NotTo(standingBy, "one instance forwards")
		Expect(scrape(*standby)).To(standingBy, "the other stands by")

		Expect(holder.stop()).To(Succeed())
		running[holder] = false
		c := confirm(*standby)
		forwarded(a, b, c)
		Expect(scrape(*standby)).NotTo(standingBy, "the one standing by took over")
		Eventually(readyzOf(*standby)).WithContext(ctx).WithTimeout(30 * time.Second).Should(HavePrefix("200"))
	}, SpecTimeout(3*time.Minute))
})
