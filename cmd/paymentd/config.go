package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/toss"
)

// Config is everything paymentd reads from its environment. Flags override variables.
type Config struct {
	Addr string // PAYSTREAM_ADDR
	// OperatorAddr is PAYSTREAM_OPERATOR_ADDR: a second listener for operators' tools
	// (pprof, /metrics without a key); empty (the default): none. See operator.go.
	OperatorAddr    string
	DataDir         string        // PAYSTREAM_DATA_DIR: empty = events in memory
	EventStoreURL   string        // EVENTSTORE_URL: EventStoreDB instead of the embedded store
	DatabaseURL     string        // DATABASE_URL: PostgreSQL read models; empty = in memory
	CatalogPath     string        // PAYSTREAM_CATALOG: empty = the sample catalog
	ConfirmTimeout  time.Duration // PAYSTREAM_CONFIRM_TIMEOUT
	ShutdownTimeout time.Duration // PAYSTREAM_SHUTDOWN_TIMEOUT
	LogLevel        slog.Level    // PAYSTREAM_LOG_LEVEL
	LogFormat       string        // PAYSTREAM_LOG_FORMAT: json | text
	TossAPIURL      string        // TOSS_API_URL: empty = the in-process simulator
	TossSecretKey   toss.SecretKey
	// WebhookSecretKey (PAYSTREAM_WEBHOOK_SECRET_KEY) keys the hash under which virtual
	// accounts' secrets are stored and deposit callbacks checked. Empty: derived from
	// TOSS_SECRET_KEY with TOSS_API_URL, made once for the embedded default (main.go).
	WebhookSecretKey toss.SecretKey
	SimulatorAddr    string // TOSSSIM_ADDR: where the in-process simulator listens
	Recovery         RecoveryConfig
	Kafka            KafkaConfig // KAFKA_*: see kafka.go
	// Limits bound one checkout: PAYSTREAM_MAX_LINE_QUANTITY, PAYSTREAM_MAX_LINES,
	// PAYSTREAM_MAX_CHECKOUT_AMOUNT.
	Limits aggregate.Limits
	Access AccessConfig
	// ReconcileInterval is PAYSTREAM_RECONCILE_INTERVAL: how often the previous KST day is
	// reconciled with Toss (reconcile.go); 0 (off, the default): only on demand.
	ReconcileInterval time.Duration
}

// AccessConfig is who may call paymentd (see keys.go).
type AccessConfig struct {
	// Keys from PAYSTREAM_API_KEYS ("name:role:sha256:<hex>", comma-separated).
	Keys []access.Key
	// KeysFile is PAYSTREAM_API_KEYS_FILE: "name role sha256:<hex>" per line, re-read on
	// SIGHUP (rotation without restart).
	KeysFile string
	// DevKeys: no key is configured and no real money can move (the simulator or a Toss
	// test key), so paymentd makes development keys at start.
	DevKeys bool
	// WriteRate is PAYSTREAM_RATE_LIMIT: each key's write requests.
	WriteRate access.Rate
	// AnchorInterval is PAYSTREAM_ANCHOR_INTERVAL: how often a signed anchor over every
	// stream head is recorded (0: never). AnchorKeyFile is PAYSTREAM_ANCHOR_KEY_FILE, the
	// Ed25519 signing key ("ed25519:<base64 seed>"); the embedded default makes one.
	AnchorInterval time.Duration
	AnchorKeyFile  string
}

// RecoveryConfig is the recovery worker's schedule (PAYSTREAM_RECOVERY_*).
type RecoveryConfig struct {
	Enabled          bool          // PAYSTREAM_RECOVERY: on | off
	Interval         time.Duration // PAYSTREAM_RECOVERY_INTERVAL: how often to scan
	ExecutingTimeout time.Duration // PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT: EXECUTING older than this is stale
	Threshold        int           // PAYSTREAM_RECOVERY_THRESHOLD: attempts before escalation
	BackoffBase      time.Duration // PAYSTREAM_RECOVERY_BACKOFF: first wait between attempts, doubling
	BackoffMax       time.Duration // PAYSTREAM_RECOVERY_BACKOFF_MAX
}

// configVars lists every variable LoadConfig reads (compose.yaml is checked against it).
var configVars = []string{
	"PAYSTREAM_ADDR", "PAYSTREAM_OPERATOR_ADDR", "PAYSTREAM_DATA_DIR", "PAYSTREAM_CATALOG", "PAYSTREAM_CONFIRM_TIMEOUT",
	"PAYSTREAM_SHUTDOWN_TIMEOUT", "PAYSTREAM_LOG_LEVEL", "PAYSTREAM_LOG_FORMAT",
	"TOSS_API_URL", "TOSS_SECRET_KEY", "TOSSSIM_ADDR", "PAYSTREAM_WEBHOOK_SECRET_KEY",
	"EVENTSTORE_URL", "DATABASE_URL",
	"KAFKA_BROKERS", "KAFKA_ADDR", "KAFKA_DATA_DIR", "KAFKA_APPROVED_TOPIC",
	"PAYSTREAM_RECOVERY", "PAYSTREAM_RECOVERY_INTERVAL", "PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT",
	"PAYSTREAM_RECOVERY_THRESHOLD", "PAYSTREAM_RECOVERY_BACKOFF", "PAYSTREAM_RECOVERY_BACKOFF_MAX",
	"PAYSTREAM_MAX_LINE_QUANTITY", "PAYSTREAM_MAX_LINES", "PAYSTREAM_MAX_CHECKOUT_AMOUNT",
	"PAYSTREAM_API_KEYS", "PAYSTREAM_API_KEYS_FILE", "PAYSTREAM_RATE_LIMIT", "PAYSTREAM_ANCHOR_INTERVAL", "PAYSTREAM_ANCHOR_KEY_FILE",
	"PAYSTREAM_RECONCILE_INTERVAL",
}

// LoadConfig reads the environment, applies flags from args over it, and validates the
// result, reporting every problem at once with the variable it concerns.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("paymentd", flag.ContinueOnError)
	var usage strings.Builder // the flag list, for -h and bad flags
	fs.SetOutput(&usage)
	addr := fs.String("addr", env("PAYSTREAM_ADDR", "127.0.0.1:8080"), "listen address (PAYSTREAM_ADDR)")
	operatorAddr := fs.String("operator-addr", env("PAYSTREAM_OPERATOR_ADDR", ""), "operator listener with pprof under /debug/pprof/ and /metrics, no API key; empty: none (PAYSTREAM_OPERATOR_ADDR)")
	eventStoreURL := fs.String("eventstore-url", env("EVENTSTORE_URL", ""), "EventStoreDB connection string, e.g. esdb://host:2113?tls=false; empty uses the embedded store (EVENTSTORE_URL)")
	dataDir := fs.String("data-dir", env("PAYSTREAM_DATA_DIR", ""), "event data directory; empty keeps events in memory (PAYSTREAM_DATA_DIR)")
	catalog := fs.String("catalog", env("PAYSTREAM_CATALOG", ""), "product catalog JSON; empty uses the sample (PAYSTREAM_CATALOG)")
	confirmTimeout := fs.String("confirm-timeout", env("PAYSTREAM_CONFIRM_TIMEOUT", "15s"), "bound on one confirm incl. PSP retries (PAYSTREAM_CONFIRM_TIMEOUT)")
	shutdownTimeout := fs.String("shutdown-timeout", env("PAYSTREAM_SHUTDOWN_TIMEOUT", "20s"), "grace period for in-flight requests (PAYSTREAM_SHUTDOWN_TIMEOUT)")
	logLevel := fs.String("log-level", env("PAYSTREAM_LOG_LEVEL", "info"), "debug|info|warn|error (PAYSTREAM_LOG_LEVEL)")
	logFormat := fs.String("log-format", env("PAYSTREAM_LOG_FORMAT", "json"), "json|text (PAYSTREAM_LOG_FORMAT)")
	tossURL := fs.String("toss-api-url", env("TOSS_API_URL", ""), "Toss API base URL; empty runs the in-process simulator (TOSS_API_URL)")
	simAddr := fs.String("tosssim-addr", env("TOSSSIM_ADDR", "127.0.0.1:8090"), "in-process simulator listen address (TOSSSIM_ADDR)")
	kafka := newKafkaFlags(fs, env)
	recovery := fs.String("recovery", env("PAYSTREAM_RECOVERY", "on"), "recovery worker on|off (PAYSTREAM_RECOVERY)")
	recoveryInterval := env("PAYSTREAM_RECOVERY_INTERVAL", "5s")
	recoveryTimeout := env("PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT", "1m")
	recoveryThreshold := env("PAYSTREAM_RECOVERY_THRESHOLD", "5")
	recoveryBackoff := env("PAYSTREAM_RECOVERY_BACKOFF", "10s")
	recoveryBackoffMax := env("PAYSTREAM_RECOVERY_BACKOFF_MAX", "10m")
	maxLineQuantity := fs.String("max-line-quantity", env("PAYSTREAM_MAX_LINE_QUANTITY", strconv.Itoa(aggregate.DefaultMaxLineQuantity)),
		"most units of one product on one checkout line (PAYSTREAM_MAX_LINE_QUANTITY)")
	maxLines := fs.String("max-lines", env("PAYSTREAM_MAX_LINES", strconv.Itoa(aggregate.DefaultMaxLines)),
		"most lines in one checkout (PAYSTREAM_MAX_LINES)")
	maxCheckoutAmount := fs.String("max-checkout-amount", env("PAYSTREAM_MAX_CHECKOUT_AMOUNT", strconv.Itoa(aggregate.DefaultMaxTotal)),
		"largest checkout total in KRW (PAYSTREAM_MAX_CHECKOUT_AMOUNT)")
	apiKeys := fs.String("api-keys", env("PAYSTREAM_API_KEYS", ""), "API keys as name:role:sha256:<hex>, comma-separated (PAYSTREAM_API_KEYS)")
	apiKeysFile := fs.String("api-keys-file", env("PAYSTREAM_API_KEYS_FILE", ""), "file of API keys, one \"name role sha256:<hex>\" per line, re-read on SIGHUP (PAYSTREAM_API_KEYS_FILE)")
	rateLimit := fs.String("rate-limit", env("PAYSTREAM_RATE_LIMIT", "off"), "write requests per API key: off or <n>/s[,burst=<b>] (PAYSTREAM_RATE_LIMIT)")
	anchorInterval := fs.String("anchor-interval", env("PAYSTREAM_ANCHOR_INTERVAL", "1m"), "how often to record a signed anchor over every stream head; off disables (PAYSTREAM_ANCHOR_INTERVAL)")
	anchorKeyFile := fs.String("anchor-key-file", env("PAYSTREAM_ANCHOR_KEY_FILE", ""), "Ed25519 anchor signing key file, ed25519:<base64 seed> (PAYSTREAM_ANCHOR_KEY_FILE)")
	reconcileInterval := fs.String("reconcile-interval", env("PAYSTREAM_RECONCILE_INTERVAL", "off"), "how often to reconcile the previous KST day with Toss's transactions and settlements; off: on demand only (PAYSTREAM_RECONCILE_INTERVAL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, fmt.Errorf("paymentd: flags override the environment variables in brackets\n%s", usage.String())
		}
		return Config{}, fmt.Errorf("paymentd: %w\n%s", err, usage.String())
	}
	cfg := Config{Addr: *addr, OperatorAddr: *operatorAddr, DataDir: *dataDir, CatalogPath: *catalog, LogFormat: *logFormat,
		TossAPIURL: *tossURL, TossSecretKey: toss.SecretKey(getenv("TOSS_SECRET_KEY")), SimulatorAddr: *simAddr,
		WebhookSecretKey: toss.SecretKey(getenv("PAYSTREAM_WEBHOOK_SECRET_KEY"))}

	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	if k := string(cfg.WebhookSecretKey); k != "" && len(k) < 32 {
		bad("PAYSTREAM_WEBHOOK_SECRET_KEY", "must be at least 32 characters (random; the same on every instance and across restarts)")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		bad("PAYSTREAM_ADDR", "%q is not host:port", cfg.Addr)
	}
	if _, _, err := net.SplitHostPort(cfg.OperatorAddr); cfg.OperatorAddr != "" && err != nil {
		bad("PAYSTREAM_OPERATOR_ADDR", "%q is not empty or host:port", cfg.OperatorAddr)
	}
	var err error
	if cfg.ConfirmTimeout, err = time.ParseDuration(*confirmTimeout); err != nil || cfg.ConfirmTimeout <= 0 {
		bad("PAYSTREAM_CONFIRM_TIMEOUT", "%q is not a positive duration such as 15s", *confirmTimeout)
	}
	if cfg.ShutdownTimeout, err = time.ParseDuration(*shutdownTimeout); err != nil || cfg.ShutdownTimeout <= 0 {
		bad("PAYSTREAM_SHUTDOWN_TIMEOUT", "%q is not a positive duration such as 20s", *shutdownTimeout)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		bad("PAYSTREAM_LOG_LEVEL", "%q is not one of debug, info, warn, error", *logLevel)
	}
	if cfg.LogFormat != "json" && cfg.LogFormat != "text" {
		bad("PAYSTREAM_LOG_FORMAT", "%q is not json or text", cfg.LogFormat)
	}
	if cfg.TossAPIURL == "" {
		if _, _, err := net.SplitHostPort(cfg.SimulatorAddr); err != nil {
			bad("TOSSSIM_ADDR", "%q is not host:port", cfg.SimulatorAddr)
		}
	} else {
		if u, err := url.Parse(cfg.TossAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("TOSS_API_URL", "%q is not an http(s) URL", cfg.TossAPIURL)
		}
		key := string(cfg.TossSecretKey)
		switch {
		case key == "":
			bad("TOSS_SECRET_KEY", "is required when TOSS_API_URL is set")
		case !strings.HasPrefix(key, "test_") && !strings.HasPrefix(key, "live_"):
			bad("TOSS_SECRET_KEY", "must be a Toss secret key (test_… or live_…)")
		}
	}
	switch *recovery {
	case "on":
		cfg.Recovery.Enabled = true
	case "off":
	default:
		bad("PAYSTREAM_RECOVERY", "%q is not on or off", *recovery)
	}
	for _, d := range []struct {
		name, value string
		into        *time.Duration
	}{
		{"PAYSTREAM_RECOVERY_INTERVAL", recoveryInterval, &cfg.Recovery.Interval},
		{"PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT", recoveryTimeout, &cfg.Recovery.ExecutingTimeout},
		{"PAYSTREAM_RECOVERY_BACKOFF", recoveryBackoff, &cfg.Recovery.BackoffBase},
		{"PAYSTREAM_RECOVERY_BACKOFF_MAX", recoveryBackoffMax, &cfg.Recovery.BackoffMax},
	} {
		if v, err := time.ParseDuration(d.value); err != nil || v <= 0 {
			bad(d.name, "%q is not a positive duration", d.value)
		} else {
			*d.into = v
		}
	}
	if n, err := strconv.Atoi(recoveryThreshold); err != nil || n < 1 {
		bad("PAYSTREAM_RECOVERY_THRESHOLD", "%q is not a whole number ≥ 1", recoveryThreshold)
	} else {
		cfg.Recovery.Threshold = n
	}
	for _, n := range []struct {
		name, value string
		least, most int64
		into        func(int64)
	}{
		{"PAYSTREAM_MAX_LINE_QUANTITY", *maxLineQuantity, 1, aggregate.CeilingMaxLineQuantity,
			func(v int64) { cfg.Limits.MaxLineQuantity = v }},
		{"PAYSTREAM_MAX_LINES", *maxLines, 1, aggregate.CeilingMaxLines, func(v int64) { cfg.Limits.MaxLines = int(v) }},
		{"PAYSTREAM_MAX_CHECKOUT_AMOUNT", *maxCheckoutAmount, aggregate.MinTotal, aggregate.CeilingMaxTotal,
			func(v int64) { cfg.Limits.MaxTotal = decimal.NewFromInt(v) }},
	} {
		if v, err := strconv.ParseInt(n.value, 10, 64); err != nil || v < n.least || v > n.most {
			bad(n.name, "%q is not a whole number from %d to %d", n.value, n.least, n.most)
		} else {
			n.into(v)
		}
	}
	cfg.EventStoreURL = *eventStoreURL
	problems = append(problems, eventStoreProblems(cfg)...)
	cfg.DatabaseURL = getenv("DATABASE_URL")
	problems = append(problems, databaseProblems(cfg)...)
	cfg.Kafka = kafka.validate(bad)
	if len(cfg.Kafka.Brokers) == 0 && cfg.Kafka.DataDir == "" && cfg.DataDir != "" {
		cfg.Kafka.ScratchDir = filepath.Join(cfg.DataDir, kafkaScratchDir)
	}
	if len(cfg.Kafka.Brokers) == 0 {
		cfg.Kafka.BooksDir = cfg.DataDir
	}
	cfg.Access = accessConfig(cfg, *apiKeys, *apiKeysFile, *rateLimit, bad)
	cfg.Access.AnchorKeyFile = *anchorKeyFile
	if *anchorInterval != "off" {
		if d, err := time.ParseDuration(*anchorInterval); err != nil || d <= 0 {
			bad("PAYSTREAM_ANCHOR_INTERVAL", "%q is not off or a positive duration such as 1m", *anchorInterval)
		} else {
			cfg.Access.AnchorInterval = d
		}
	}
	if *anchorKeyFile != "" {
		if _, err := readAnchorKey(*anchorKeyFile); err != nil {
			bad("PAYSTREAM_ANCHOR_KEY_FILE", "%v", err)
		}
	}
	if *reconcileInterval != "off" {
		if d, err := time.ParseDuration(*reconcileInterval); err != nil || d < time.Minute {
			bad("PAYSTREAM_RECONCILE_INTERVAL", "%q is not off or a duration of at least 1m such as 1h", *reconcileInterval)
		} else {
			cfg.ReconcileInterval = d
		}
	}
	if len(problems) > 0 {
		return Config{}, errors.New("paymentd: invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	return cfg, nil
}
