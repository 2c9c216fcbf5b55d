package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ReadyTimeout bounds a broker's start (format excluded) until a client's metadata request
// succeeds.
const ReadyTimeout = 90 * time.Second

// Broker is a real Kafka broker for tests: one this package started, or an external one
// (KAFKA_BROKERS). Safe for concurrent use.
type Broker struct {
	brokers  []string
	external bool

	dir, lib                   string
	port, internal, controller int
	proxy                      *proxy
	mu                         sync.Mutex
	cmd                        *exec.Cmd
	exited                     chan struct{}
	started                    time.Duration // how long the last start took, format excluded
}

// Start formats a KRaft log directory in a new temporary directory and starts a broker on
// it. It fails when java or the classpath is missing or the broker is not ready within
// ReadyTimeout.
func Start(ctx context.Context) (*Broker, error) {
	lib, err := Classpath(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, errors.New("brokertest: java not found (apt-get install -y openjdk-17-jre-headless), or set KAFKA_BROKERS")
	}
	dir, err := os.MkdirTemp("", "kafka")
	if err != nil {
		return nil, fmt.Errorf("brokertest: %w", err)
	}
	b := &Broker{dir: dir, lib: lib}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("brokertest: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	b.port, b.internal, b.controller = ports[0], ports[1], ports[2]
	b.proxy = newProxy(ln, fmt.Sprintf("127.0.0.1:%d", b.port))
	b.brokers = []string{ln.Addr().String()}
	if err := b.format(ctx); err != nil {
		b.proxy.close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := b.Restart(ctx); err != nil {
		b.proxy.close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

// External wraps brokers the caller runs (KAFKA_BROKERS).
func External(brokers []string) *Broker {
	return &Broker{brokers: brokers, external: true}
}

var (
	sharedOnce sync.Once
	shared     *Broker
	sharedErr  error
	ownedOnce  sync.Once
	owned      *Broker
	ownedErr   error
)

// Shared returns the test process's broker: External(KAFKA_BROKERS) when it is set,
// otherwise a broker started on first use. Call StopShared in AfterSuite.
func Shared(ctx context.Context) (*Broker, error) {
	sharedOnce.Do(func() {
		if list := os.Getenv("KAFKA_BROKERS"); list != "" {
			var brokers []string
			for _, b := range strings.Split(list, ",") {
				if b = strings.TrimSpace(b); b != "" {
					brokers = append(brokers, b)
				}
			}
			shared = External(brokers)
			return
		}
		shared, sharedErr = Start(ctx)
	})
	if sharedErr != nil {
		return nil, fmt.Errorf("brokertest: a Kafka broker is required (java and mvn, or KAFKA_BROKERS): %w", sharedErr)
	}
	return shared, nil
}

// Owned returns a broker this process started, which Kill, Restart and Control work on:
// the shared broker when it is one, otherwise (KAFKA_BROKERS set) a second one started on
// first use. StopShared stops it too.
func Owned(ctx context.Context) (*Broker, error) {
	b, err := Shared(ctx)
	if err != nil {
		return nil, err
	}
	if !b.external {
		return b, nil
	}
	ownedOnce.Do(func() { owned, ownedErr = Start(ctx) })
	if ownedErr != nil {
		return nil, fmt.Errorf("brokertest: a Kafka broker of this process is required (java and mvn): %w", ownedErr)
	}
	return owned, nil
}

// StopShared stops the brokers Shared and Owned started, if any.
func StopShared() error {
	var errs []error
	for _, b := range []*Broker{shared, owned} {
		if b != nil {
			errs = append(errs, b.Stop())
		}
	}
	return errors.Join(errs...)
}

// Brokers are the seed brokers, host:port.
func (b *Broker) Brokers() []string { return b.brokers }

// External reports whether the broker is the caller's (KAFKA_BROKERS): it cannot be
// killed or controlled.
func (b *Broker) External() bool { return b.external }

// StartTime is how long the last start took until the broker was ready (format excluded).
func (b *Broker) StartTime() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.started
}

// String names the broker for specs' output.
func (b *Broker) String() string {
	if b.external {
		return "Apache Kafka at " + strings.Join(b.brokers, ",")
	}
	return fmt.Sprintf("Apache Kafka %s at %s", version(b.lib), b.brokers[0])
}

// Control adds fn for the client requests with api key key: the requests go through the
// functions of their key, in the order they were added, before they reach the broker. The broker must be one this
// process started.
func (b *Broker) Control(key kmsg.Key, fn ControlFunc) error {
	if b.external {
		return errors.New("brokertest: cannot control the requests of an external broker")
	}
	b.proxy.control(int16(key), fn)
	return nil
}

// ClearControls removes every control function.
func (b *Broker) ClearControls() {
	if b.external {
		return
	}
	b.proxy.mu.Lock()
	defer b.proxy.mu.Unlock()
	clear(b.proxy.controls)
}

// Kill kills the broker as a crash would (SIGKILL) and waits for it to exit; the clients'
// connections drop. Restart starts it again.
func (b *Broker) Kill() error {
	if b.external {
		return errors.New("brokertest: cannot kill an external broker")
	}
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	b.proxy.dropAll()
	return nil
}

// Pause stops the broker's process (SIGSTOP) until Resume (SIGCONT).
func (b *Broker) Pause() error { return b.signal(syscall.SIGSTOP) }

// Resume continues a paused broker.
func (b *Broker) Resume() error { return b.signal(syscall.SIGCONT) }

func (b *Broker) signal(sig syscall.Signal) error {
	if b.external {
		return errors.New("brokertest: cannot signal an external broker")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return errors.New("brokertest: broker not running")
	}
	return b.cmd.Process.Signal(sig)
}

// Restart starts the (killed or stopped) broker on the same log directory and ports and
// waits until it answers a metadata request (at most ReadyTimeout).
func (b *Broker) Restart(ctx context.Context) error {
	if b.external {
		return errors.New("brokertest: cannot start an external broker")
	}
	if err := b.Kill(); err != nil {
		return err
	}
	begin := time.Now()
	logf, err := os.OpenFile(filepath.Join(b.dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	cmd := exec.Command("java", append(jvmArgs(b.lib), "kafka.Kafka", b.properties())...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("brokertest: java kafka.Kafka: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(exited) }()
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
	if err := b.ready(ctx, exited); err != nil {
		_ = b.Kill()
		return fmt.Errorf("%w\n%s", err, b.logTail())
	}
	b.mu.Lock()
	b.started = time.Since(begin)
	b.mu.Unlock()
	return nil
}

// Stop stops the broker (SIGTERM, then SIGKILL after 20 s) and removes its files; an
// external broker is left alone.
func (b *Broker) Stop() error {
	if b.external {
		return nil
	}
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	}
	b.proxy.close()
	return os.RemoveAll(b.dir)
}

// ready polls a metadata request until it names the broker, the process exits, or
// ReadyTimeout passes.
func (b *Broker) ready(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.DialTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	defer cl.Close()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		rcancel()
		if err == nil && len(resp.Brokers) > 0 && resp.ControllerID >= 0 {
			return nil
		}
		select {
		case <-exited:
			return errors.New("brokertest: the broker exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("brokertest: broker not ready after %s: %v", ReadyTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *Broker) logTail() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "broker.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// format writes server.properties (small internal topics, which a 2-core machine creates
// quickly; a broker session of 4 s, as long as a broker restarted after kill -9 waits for
// the controller to let its old registration go) and formats the log directory with a new cluster id.
func (b *Broker) format(ctx context.Context) error {
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:%[3]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,INTERNAL://127.0.0.1:%[2]d,CONTROLLER://127.0.0.1:%[3]d
advertised.listeners=PLAINTEXT://%[4]s,INTERNAL://127.0.0.1:%[2]d
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[5]s
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
`, b.port, b.internal, b.controller, b.brokers[0], filepath.Join(b.dir, "data"))
	if err := os.WriteFile(b.properties(), []byte(props), 0o644); err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	cmd := exec.CommandContext(ctx, "java", append(jvmArgs(b.lib), "kafka.tools.StorageTool", "format", "--standalone",
		"--cluster-id="+base64.RawURLEncoding.EncodeToString(id[:]), "-c", b.properties())...) // = : an id may begin with '-'

	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("brokertest: formatting the log directory: %w\n%s", err, out.String())
	}
	return nil
}

func (b *Broker) properties() string { return filepath.Join(b.dir, "server.properties") }

// jvmArgs: a bounded heap; the serial collector and the client compiler start fastest on
// two cores, which matters more to a test broker than peak throughput.
func jvmArgs(lib string) []string {
	return []string{"-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-Djava.awt.headless=true",
		"-Dorg.slf4j.simpleLogger.showDateTime=true", "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS", "-cp", filepath.Join(lib, "*")}
}

// version is the kafka_2.13 jar's version in lib.
func version(lib string) string {
	m, _ := filepath.Glob(filepath.Join(lib, "kafka_2.13-*.jar"))
	if len(m) == 0 {
		return "?"
	}
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m[0]), "kafka_2.13-"), ".jar")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("brokertest: free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Name names the broker the specs run against before it starts: "Apache Kafka <version>",
// or "Apache Kafka at <KAFKA_BROKERS>".
func Name() string {
	if list := os.Getenv("KAFKA_BROKERS"); list != "" {
		return "Apache Kafka at " + list
	}
	if lib, err := Classpath(context.Background()); err == nil {
		return "Apache Kafka " + version(lib)
	}
	return "Apache Kafka"
}
