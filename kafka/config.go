package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultStartupTimeout bounds each step of a role's start-up unless Config says otherwise.
const DefaultStartupTimeout = 30 * time.Second

// Config is how a role reaches the cluster. The zero value of every field but Brokers is
// usable.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// ClientOptions are added to every client a role makes (TLS, SASL, timeouts).
	ClientOptions []kgo.Opt
	// Logger receives the roles' logs (nil: discarded).
	Logger *slog.Logger
	// StartupTimeout bounds each step of a role's start-up — creating topics, fencing the
	// previous producer, reading a checkpoint (0: DefaultStartupTimeout).
	StartupTimeout time.Duration
}

// GroupSessionTimeout is how long a consumer-group member may go unheard before the
// coordinator evicts it and gives its partitions to the others. A member killed with -9
// never leaves; under Kafka's default of 45 s its partitions went unconsumed that long
// after every kill (the chaos run measured 45 s take-overs). Members beat every second.
const GroupSessionTimeout = 10 * time.Second

// GroupMember are the options of every consumer-group member of paystream's roles.
func GroupMember(group string) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumerGroup(group), kgo.SessionTimeout(GroupSessionTimeout), kgo.HeartbeatInterval(time.Second)}
}

// NewClient returns a client of the cluster with the role's options opts, then
// ClientOptions (so TLS and SASL apply to every role alike).
func (c Config) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(c.options(opts)...)
}

// NewGroupTransactSession is NewClient for a consume-transform-produce role.
func (c Config) NewGroupTransactSession(opts ...kgo.Opt) (*kgo.GroupTransactSession, error) {
	return kgo.NewGroupTransactSession(c.options(opts)...)
}

func (c Config) options(opts []kgo.Opt) []kgo.Opt {
	all := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, opts...)
	return append(all, c.ClientOptions...)
}

// Log returns the logger with the role's attributes (a discarding one when unset).
func (c Config) Log(args ...any) *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With(args...)
}

// Startup runs one step of a start-up (named by what, e.g. "creating topics") bounded by
// StartupTimeout; a step that runs out of time fails saying which step and how long.
func (c Config) Startup(ctx context.Context, what string, step func(ctx context.Context) error) error {
	limit := c.StartupTimeout
	if limit <= 0 {
		limit = DefaultStartupTimeout
	}
	sctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("%s took over %s", what, limit))
	defer cancel()
	err := step(sctx)
	if err != nil && ctx.Err() == nil && sctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(sctx), err)
	}
	return err
}

// ParseBrokers reads a comma-separated broker list (KAFKA_BROKERS), skipping blanks. The
// problems (to be reported under the variable's name) are each entry that is not
// host:port, and a list without a broker: always when required, else when it is not empty.
func ParseBrokers(list string, required bool) (brokers, problems []string) {
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			problems = append(problems, fmt.Sprintf("%q is not host:port", b))
		}
		brokers = append(brokers, b)
	}
	switch {
	case len(brokers) > 0:
	case required:
		problems = append(problems, "is required (comma-separated host:port)")
	case list != "":
		problems = append(problems, fmt.Sprintf("%q lists no broker", list))
	}
	return brokers, problems
}
