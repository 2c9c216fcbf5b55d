package tosssim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"
)

// Faults are the failures the simulator injects into Toss API calls (/v1/…) and, through
// the Webhook fields below, into webhook delivery. Each request
// draws its latency uniformly from [LatencyMin, LatencyMax] and at most one fault; the rates
// are probabilities in [0, 1] whose sum must not exceed 1. 5xx and timeouts hit every Toss
// endpoint; provider errors and drops only hit the requests that move money, confirms and
// cancels. In JSON the latencies are Go duration strings ("25ms").
type Faults struct {
	LatencyMin time.Duration `json:"latencyMin"`
	LatencyMax time.Duration `json:"latencyMax"`
	// Rate5xx answers 500 FAILED_INTERNAL_SYSTEM_PROCESSING without executing.
	Rate5xx float64 `json:"rate5xx"`
	// RateTimeout answers nothing until the caller gives up, without executing.
	RateTimeout float64 `json:"rateTimeout"`
	// RateDropAfterApprove executes and records the confirm or cancel, then drops the
	// connection without answering: the caller cannot know the money was captured or
	// refunded.
	RateDropAfterApprove float64 `json:"rateDropAfterApprove"`
	// RateProviderError answers 400 PROVIDER_ERROR without executing.
	RateProviderError float64 `json:"rateProviderError"`

	// Webhook faults are drawn once per webhook event (its retries are not drawn again), at
	// most one per event; their rates are in [0, 1] and add up to at most 1.
	// WebhookRateDrop never sends the event: the merchant must find the change by lookup.
	WebhookRateDrop float64 `json:"webhookRateDrop"`
	// WebhookRateDuplicate sends the event twice, with the same transmission id.
	WebhookRateDuplicate float64 `json:"webhookRateDuplicate"`
	// WebhookRateReorder holds the event back until the next event has been sent, so the
	// two arrive in the opposite order; with no next event it goes after WebhookDelay (1 s
	// when zero).
	WebhookRateReorder float64 `json:"webhookRateReorder"`
	// WebhookRateDelay sends the event WebhookDelay late (wall time, not scaled).
	WebhookRateDelay float64       `json:"webhookRateDelay"`
	WebhookDelay     time.Duration `json:"webhookDelay"`
}

// Validate reports every way f is out of range.
func (f Faults) Validate() error {
	var errs []error
	if f.LatencyMin < 0 || f.LatencyMax < f.LatencyMin {
		errs = append(errs, fmt.Errorf("latency range [%s, %s] must satisfy 0 <= min <= max", f.LatencyMin, f.LatencyMax))
	}
	if f.WebhookDelay < 0 {
		errs = append(errs, fmt.Errorf("webhookDelay %s must not be negative", f.WebhookDelay))
	}
	type rate struct {
		name string
		v    float64
	}
	for _, group := range []struct {
		what  string
		rates []rate
	}{
		{"fault rates", []rate{{"rate5xx", f.Rate5xx}, {"rateTimeout", f.RateTimeout}, {"rateDropAfterApprove", f.RateDropAfterApprove}, {"rateProviderError", f.RateProviderError}}},
		{"webhook fault rates", []rate{{"webhookRateDrop", f.WebhookRateDrop}, {"webhookRateDuplicate", f.WebhookRateDuplicate}, {"webhookRateReorder", f.WebhookRateReorder}, {"webhookRateDelay", f.WebhookRateDelay}}},
	} {
		var sum float64
		for _, r := range group.rates {
			if !(r.v >= 0 && r.v <= 1) { // also rejects NaN
				errs = append(errs, fmt.Errorf("%s %v must be within [0, 1]", r.name, r.v))
			}
			sum += r.v
		}
		if sum > 1 {
			errs = append(errs, fmt.Errorf("%s add up to %v, more than 1", group.what, sum))
		}
	}
	return errors.Join(errs...)
}

// MarshalJSON writes the latencies as duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	type plain Faults // drops the methods, so no recursion
	return json.Marshal(struct {
		LatencyMin   string `json:"latencyMin"`
		LatencyMax   string `json:"latencyMax"`
		WebhookDelay string `json:"webhookDelay"`
		plain
	}{f.LatencyMin.String(), f.LatencyMax.String(), f.WebhookDelay.String(), plain(f)})
}

// UnmarshalJSON reads latencies as duration strings and rejects unknown fields, so that a
// misspelt rate is an error rather than silently no fault.
func (f *Faults) UnmarshalJSON(b []byte) error {
	type plain Faults
	aux := struct {
		*plain
		LatencyMin   string `json:"latencyMin"`
		LatencyMax   string `json:"latencyMax"`
		WebhookDelay string `json:"webhookDelay"`
	}{plain: (*plain)(f)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	for _, d := range []struct {
		text string
		dst  *time.Duration
	}{{aux.LatencyMin, &f.LatencyMin}, {aux.LatencyMax, &f.LatencyMax}, {aux.WebhookDelay, &f.WebhookDelay}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return err
		}
		*d.dst = v
	}
	return nil
}

type fault int

const (
	faultNone fault = iota
	fault5xx
	faultTimeout
	faultProviderError
	faultDropAfterApprove
)

// chaos draws latencies and faults. The configuration is read lock-free so that a
// simulator without faults never contends; the seeded source is shared under a mutex so
// that a run is reproducible for a given seed and request order.
type chaos struct {
	faults  atomic.Pointer[Faults]
	mu      sync.Mutex
	rng     *rand.Rand
	hookMu  sync.Mutex
	hookRng *rand.Rand // webhook faults: their own source, so API draws stay as they were
}

func newChaos(seed int64, f Faults) *chaos {
	c := &chaos{rng: rand.New(rand.NewPCG(uint64(seed), 0x70557e55)), hookRng: rand.New(rand.NewPCG(uint64(seed), 0x3eb4007))}
	c.set(f)
	return c
}

func (c *chaos) set(f Faults) { c.faults.Store(&f) }

func (c *chaos) get() Faults { return *c.faults.Load() }

// draw decides one request's latency and fault. Faults of money-moving requests drawn for
// a lookup mean no fault, so every request consumes the source the same way.
func (c *chaos) draw(movesMoney bool) (time.Duration, fault) {
	f := c.faults.Load()
	if f.LatencyMin == 0 && f.LatencyMax == 0 && f.Rate5xx == 0 && f.RateTimeout == 0 && f.RateDropAfterApprove == 0 && f.RateProviderError == 0 {
		return 0, faultNone
	}
	c.mu.Lock()
	delay := f.LatencyMin
	if spread := f.LatencyMax - f.LatencyMin; spread > 0 {
		delay += time.Duration(c.rng.Int64N(int64(spread) + 1))
	}
	x := c.rng.Float64()
	c.mu.Unlock()

	for _, o := range []struct {
		rate      float64
		kind      fault
		moneyOnly bool
	}{
		{f.Rate5xx, fault5xx, false},
		{f.RateTimeout, faultTimeout, false},
		{f.RateProviderError, faultProviderError, true},
		{f.RateDropAfterApprove, faultDropAfterApprove, true},
	} {
		if x < o.rate {
			if o.moneyOnly && !movesMoney {
				return delay, faultNone
			}
			return delay, o.kind
		}
		x -= o.rate
	}
	return delay, faultNone
}

type webhookFault int

const (
	webhookFaultNone webhookFault = iota
	webhookFaultDrop
	webhookFaultDuplicate
	webhookFaultReorder
	webhookFaultDelay
)

// drawWebhook decides the fault of one webhook event, and the delay of a delayed or
// reordered one.
func (c *chaos) drawWebhook() (webhookFault, time.Duration) {
	f := c.faults.Load()
	if f.WebhookRateDrop == 0 && f.WebhookRateDuplicate == 0 && f.WebhookRateReorder == 0 && f.WebhookRateDelay == 0 {
		return webhookFaultNone, 0
	}
	c.hookMu.Lock()
	x := c.hookRng.Float64()
	c.hookMu.Unlock()
	for _, o := range []struct {
		rate float64
		kind webhookFault
	}{
		{f.WebhookRateDrop, webhookFaultDrop},
		{f.WebhookRateDuplicate, webhookFaultDuplicate},
		{f.WebhookRateReorder, webhookFaultReorder},
		{f.WebhookRateDelay, webhookFaultDelay},
	} {
		if x < o.rate {
			return o.kind, f.WebhookDelay
		}
		x -= o.rate
	}
	return webhookFaultNone, 0
}
