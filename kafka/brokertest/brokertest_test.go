package brokertest_test

import (
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/paystream/paystream/kafka/brokertest"
)

var _ = Describe("A broker of the test process", func() {
	var b *brokertest.Broker
	BeforeEach(func(ctx context.Context) {
		var err error
		b, err = brokertest.Owned(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(b.ClearControls)
		GinkgoWriter.Printf("%s, started in %s\n", b, b.StartTime().Round(10*time.Millisecond))
	})

	produce := func(ctx context.Context, topic string, values ...string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers()...), kgo.AllowAutoTopicCreation())
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		for _, v := range values {
			Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr()).To(Succeed())
		}
	}
	consume := func(ctx context.Context, topic string, n int) []string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers()...), kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		var got []string
		for len(got) < n && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		return got
	}

	It("keeps acknowledged records across kill -9 and a restart on the same log directory", func(ctx SpecContext) {
		produce(ctx, "brokertest.kill", "a", "b")
		Expect(b.Kill()).To(Succeed())
		began := time.Now()
		Expect(b.Restart(ctx)).To(Succeed())
		GinkgoWriter.Printf("restarted in %s\n", time.Since(began).Round(10*time.Millisecond))
		produce(ctx, "brokertest.kill", "c")
		Expect(consume(ctx, "brokertest.kill", 3)).To(Equal([]string{"a", "b", "c"}))
	}, SpecTimeout(3*time.Minute))

	It("holds and drops the requests a control function chooses", func(ctx SpecContext) {
		produce(ctx, "brokertest.held", "x") // creates the topic
		held := make(chan struct{})
		release := make(chan struct{})
		var first sync.Once
		Expect(b.Control(kmsg.Produce, func(req kmsg.Request) brokertest.Verdict {
			verdict := brokertest.Pass
			first.Do(func() {
				close(held)
				<-release
				verdict = brokertest.Drop
			})
			return verdict
		})).To(Succeed())
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Brokers()...), kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(20*time.Second))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		result := make(chan error, 1)
		cl.Produce(ctx, &kgo.Record{Topic: "brokertest.held", Value: []byte("v")}, func(_ *kgo.Record, err error) { result <- err })
		Eventually(held).WithContext(ctx).WithTimeout(20 * time.Second).Should(BeClosed())
		Consistently(result).WithTimeout(300 * time.Millisecond).ShouldNot(Receive())
		b.ClearControls()
		close(release)
		Eventually(result).WithContext(ctx).WithTimeout(30*time.Second).Should(Receive(BeNil()), "the client retries on a new connection")
	}, SpecTimeout(2*time.Minute))
})
