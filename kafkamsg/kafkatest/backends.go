package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafka/brokertest"
)

// Cluster is the broker one spec runs against, with the faults specs inject. Both
// backends implement it alike, so one table of specs runs on each.
type Cluster interface {
	// Brokers are the seed brokers, host:port; they stay the same across Kill and Restart.
	Brokers() []string
	// FenceCommit is FenceCommit on this cluster.
	FenceCommit(txnID string, nth int) (<-chan struct{}, error)
	// HoldCommit is HoldCommit on this cluster.
	HoldCommit(txnID string, nth int) (held <-chan struct{}, release func(), err error)
	// HoldProduce makes the broker hold every produce request of transactional id txnID
	// (taking no more approvals) until release is called; call it before the cluster closes.
	HoldProduce(txnID string) (release func(), err error)
	// Kill ends the broker as kill -9 would: what it wrote stays, connections drop.
	Kill() error
	// Restart starts the killed broker again on what it wrote, on the same address.
	Restart(ctx context.Context) error
	// Close releases the cluster (the spec's DeferCleanup calls it).
	Close()
}

// Backend is a kind of broker the Kafka specs run against.
type Backend struct {
	// Name says which broker, for the specs' output ("kfake", "Apache Kafka 4.4.0").
	Name string
	// Start returns a cluster for one spec, holding no topic and no group of an earlier spec.
	Start func(ctx context.Context) (Cluster, error)
}

// Backends are the brokers every Kafka spec runs against: kfake, in process, and a real
// Apache Kafka broker (kafka/brokertest: KAFKA_BROKERS, or one started per test process —
// call brokertest.StopShared in AfterSuite). With KAFKA_BROKERS, the specs delete every
// topic and group of that cluster between specs (point it only at a throwaway cluster),
// and the specs that inject faults (FenceCommit, HoldCommit, Kill) fail: they need a
// broker of the test process.
func Backends() []Backend {
	return []Backend{
		{Name: "kfake", Start: func(context.Context) (Cluster, error) { return newFake() }},
		{Name: brokertest.Name(), Start: func(ctx context.Context) (Cluster, error) { return newReal(ctx) }},
	}
}

// fake is kfake with a data directory (written synchronously), so that Kill leaves what a
// crash would leave and Restart recovers it as paymentd does.
type fake struct {
	mu             sync.Mutex
	cluster        *kfake.Cluster
	dir            string
	port           int
	crashed, alive bool
}

func newFake() (*fake, error) {
	dir, err := os.MkdirTemp("", "kfake")
	if err != nil {
		return nil, err
	}
	f := &fake{dir: dir}
	if err := f.open(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return f, nil
}

func (f *fake) open() error {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(f.dir), kfake.SyncWrites()}
	if f.port != 0 {
		opts = append(opts, kfake.Ports(f.port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	if f.port == 0 {
		_, p, _ := net.SplitHostPort(c.ListenAddrs()[0])
		f.port, _ = strconv.Atoi(p)
	}
	f.cluster, f.alive = c, true
	return nil
}

func (f *fake) Brokers() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))}
}

func (f *fake) FenceCommit(txnID string, nth int) (<-chan struct{}, error) {
	return FenceCommit(f.cluster, txnID, nth), nil
}

func (f *fake) HoldCommit(txnID string, nth int) (<-chan struct{}, func(), error) {
	held, release := HoldCommit(f.cluster, txnID, nth)
	return held, release, nil
}

func (f *fake) HoldProduce(txnID string) (func(), error) {
	resume := make(chan struct{})
	f.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.cluster.KeepControl()
		if id := req.(*kmsg.ProduceRequest).TransactionID; id != nil && *id == txnID {
			f.cluster.SleepControl(func() { <-resume })
		}
		return nil, nil, false
	})
	var once sync.Once
	return func() { once.Do(func() { close(resume) }) }, nil
}

func (f *fake) Kill() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	image := f.dir + ".crashed"
	if err := CrashCopy(f.dir, image); err != nil {
		return err
	}
	f.cluster.Close()
	f.alive = false
	if err := os.RemoveAll(f.dir); err != nil {
		return err
	}
	return os.Rename(image, f.dir)
}

func (f *fake) Restart(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alive {
		return errors.New("kafkatest: kfake restarted without Kill")
	}
	if err := f.open(); err != nil {
		return err
	}
	// As paymentd does for its in-process broker: the markers kfake's recovery leaves out.
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.Brokers()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kafka.RecoverCrashed(ctx, cl)
	return err
}

func (f *fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alive {
		f.cluster.Close()
		f.alive = false
	}
	_ = os.RemoveAll(f.dir)
}

// real is the test process's Apache Kafka broker, emptied of the earlier specs' topics
// and groups.
type real struct {
	broker *brokertest.Broker // the one the spec's clients use
}

func newReal(ctx context.Context) (*real, error) {
	b, err := brokertest.Shared(ctx)
	if err != nil {
		return nil, err
	}
	b.ClearControls()
	if err := empty(ctx, b.Brokers()); err != nil {
		return nil, err
	}
	return &real{broker: b}, nil
}

// owned is the broker faults run on: the shared one, unless it is external.
func (r *real) owned() (*brokertest.Broker, error) {
	if r.broker.External() {
		return nil, errors.New("kafkatest: faults need a broker of the test process; unset KAFKA_BROKERS")
	}
	return r.broker, nil
}

func (r *real) Brokers() []string { return r.broker.Brokers() }

func (r *real) FenceCommit(txnID string, nth int) (<-chan struct{}, error) {
	b, err := r.owned()
	if err != nil {
		return nil, err
	}
	fenced := make(chan struct{})
	var seen atomic.Int32 // the proxy's connections call in concurrently
	return fenced, b.Control(kmsg.EndTxn, func(req kmsg.Request) brokertest.Verdict {
		end := req.(*kmsg.EndTxnRequest)
		if end.TransactionalID != txnID || !end.Commit {
			return brokertest.Pass
		}
		if int(seen.Add(1)) != nth {
			return brokertest.Pass
		}
		_ = initProducer(b.Brokers(), txnID) // the restarted instance, on its own connection
		close(fenced)
		return brokertest.Pass // the broker refuses it: the transaction is no longer this producer's
	})
}

func (r *real) HoldCommit(txnID string, nth int) (<-chan struct{}, func(), error) {
	b, err := r.owned()
	if err != nil {
		return nil, nil, err
	}
	held, release := make(chan struct{}), make(chan struct{})
	var seen atomic.Int32 // the proxy's connections call in concurrently
	err = b.Control(kmsg.EndTxn, func(req kmsg.Request) brokertest.Verdict {
		end := req.(*kmsg.EndTxnRequest)
		if end.TransactionalID != txnID || !end.Commit {
			return brokertest.Pass
		}
		if int(seen.Add(1)) != nth {
			return brokertest.Pass
		}
		close(held)
		<-release
		return brokertest.Drop
	})
	var once sync.Once
	return held, func() { once.Do(func() { close(release) }) }, err
}

func (r *real) HoldProduce(txnID string) (func(), error) {
	b, err := r.owned()
	if err != nil {
		return nil, err
	}
	resume := make(chan struct{})
	err = b.Control(kmsg.Produce, func(req kmsg.Request) brokertest.Verdict {
		if id := req.(*kmsg.ProduceRequest).TransactionID; id != nil && *id == txnID {
			<-resume
		}
		return brokertest.Pass
	})
	var once sync.Once
	return func() { once.Do(func() { close(resume) }) }, err
}

func (r *real) Kill() error {
	b, err := r.owned()
	if err != nil {
		return err
	}
	return b.Kill()
}

func (r *real) Restart(ctx context.Context) error {
	b, err := r.owned()
	if err != nil {
		return err
	}
	return b.Restart(ctx)
}

func (r *real) Close() { r.broker.ClearControls() }

// empty deletes every topic (internal ones excepted) and every group of the cluster at
// brokers, so that a spec starts as on a new cluster.
func empty(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("kafkatest: list groups: %w", err)
	}
	if ids := groups.Groups(); len(ids) > 0 {
		if _, err := adm.DeleteGroups(ctx, ids...); err != nil {
			return fmt.Errorf("kafkatest: delete groups: %w", err)
		}
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("kafkatest: list topics: %w", err)
	}
	if names := topics.Names(); len(names) > 0 {
		res, err := adm.DeleteTopics(ctx, names...)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("kafkatest: delete topics: %w", err)
		}
	}
	return nil
}
