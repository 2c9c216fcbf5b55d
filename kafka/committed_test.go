package kafka_test

import (
	"context"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/paystream/paystream/kafka"
)

var _ = Describe("ReadCommitted, when the broker answers a fetch with an error", func() {
	const topic = "t"
	var (
		cluster *kfake.Cluster
		cl      *kgo.Client
	)

	BeforeEach(func(ctx SpecContext) {
		var err error
		cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		cl, err = kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cl.Close)
		Expect(cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr()).To(Succeed())
	})

	// failFetches answers the next n fetches with code; it returns how many it answered.
	failFetches := func(n int64, code *kerr.Error) *atomic.Int64 {
		var answered atomic.Int64
		cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			if answered.Load() >= n {
				return nil, nil, false
			}
			answered.Add(1)
			resp := req.(*kmsg.FetchRequest).ResponseKind().(*kmsg.FetchResponse)
			resp.ErrorCode = code.Code
			return resp, nil, true
		})
		return &answered
	}
	read := func(ctx context.Context) ([]string, error) {
		var values []string
		err := kafka.ReadCommitted(ctx, cl, topic, 0, 0, 2, func(r *kgo.Record) { values = append(values, string(r.Value)) })
		return values, err
	}

	It("asks again while the error is retriable, as a topic just created answers", func(ctx SpecContext) {
		answered := failFetches(3, kerr.UnknownTopicID)
		values, err := read(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(values).To(Equal([]string{"a", "b"}))
		Expect(answered.Load()).To(BeEquivalentTo(3))
	})

	It("gives up after a bounded number of retries, naming the range and the error", func(ctx SpecContext) {
		failFetches(1000, kerr.UnknownTopicID)
		_, err := read(ctx)
		Expect(err).To(MatchError(kerr.UnknownTopicID))
		Expect(err).To(MatchError(ContainSubstring("read t/0 [0, 2): fetch at 0")))
	})

	It("fails at once on an error that is not retriable", func(ctx SpecContext) {
		answered := failFetches(1000, kerr.TopicAuthorizationFailed)
		_, err := read(ctx)
		Expect(err).To(MatchError(kerr.TopicAuthorizationFailed))
		Expect(answered.Load()).To(BeEquivalentTo(1))
	})
})
