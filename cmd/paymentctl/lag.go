package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/v1"
)

// lagSample is the part of GET /admin/v1/readmodel/status that lag reads.
type lagSample struct {
	Checkpoint uint64 `json:"checkpoint"`
	Head       uint64 `json:"head"`
	Behind     uint64 `json:"behind"`
	at         time.Time
}

// sampleLag reads the projection's checkpoint and paymentd's head. An unhealthy read model
// (HTTP 503) still reports both, so it is a sample, not an error.
func (c client) sampleLag(ctx context.Context) (lagSample, error) {
	resp, err := c.do(ctx, http.MethodGet, "/admin/v1/readmodel/status")
	if err != nil {
		return lagSample{}, err
	}
	defer resp.Body.Close()
	var s lagSample
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return lagSample{}, fmt.Errorf("lag: HTTP %d: %w", resp.StatusCode, err)
	}
	s.at = time.Now()
	return s, nil
}

// lagCmd is "paymentctl lag [-watch [-interval D] [-idle D]]".
func (c client) lagCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paymentctl lag", flag.ContinueOnError)
	fs.SetOutput(stderr)
	watch := fs.Bool("watch", false, "sample until caught up with no append for -idle, then report")
	interval := fs.Duration("interval", 10*time.Millisecond, "sampling interval with -watch")
	idle := fs.Duration("idle", 3*time.Second, "with -watch, stop once caught up and no append for this long")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *interval <= 0 {
		return errUsage
	}
	if *watch {
		return c.watchLag(ctx, stdout, *interval, *idle)
	}
	return c.lag(ctx, stdout)
}

func (c client) lag(ctx context.Context, stdout io.Writer) error {
	s, err := c.sampleLag(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoint %d head %d behind %d\n", s.Checkpoint, s.Head, s.Behind)
	return nil
}

// watchLag samples the lag every interval and reports, once per second, the largest lag in
// events (head − checkpoint) and in time: the age of the oldest event not yet projected, at
// the sampling resolution (the time of the first sample whose head passed the checkpoint).
// It ends, with a summary, when the head has not moved for idle and the projection has
// caught up: the summary's "caught up" is the time from the last sample that saw the head
// move (the load stopping) to the first sample with nothing behind, so it overstates the
// real figure by up to one interval plus a status request.
func (c client) watchLag(ctx context.Context, stdout io.Writer, interval, idle time.Duration) error {
	var (
		heads                      []lagSample // samples where the head moved, oldest first
		maxBehind, secBehind       uint64
		maxAge, secAge             time.Duration
		lastMove, caughtUp, second time.Time
		moved                      bool
		prevHead                   uint64
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	second = start
	for {
		s, err := c.sampleLag(ctx)
		if err != nil {
			return err
		}
		if s.Head != prevHead {
			if prevHead != 0 || len(heads) > 0 {
				moved = true
			}
			prevHead, lastMove, caughtUp = s.Head, s.at, time.Time{}
			heads = append(heads, s)
		}
		// Drop samples whose head the checkpoint has passed; the oldest left is when the
		// oldest unprojected event was (at the latest) appended.
		for len(heads) > 0 && heads[0].Head <= s.Checkpoint {
			heads = heads[1:]
		}
		var age time.Duration
		if s.Behind > 0 && len(heads) > 0 {
			age = s.at.Sub(heads[0].at)
		}
		if s.Behind == 0 && caughtUp.IsZero() {
			caughtUp = s.at
		}
		maxBehind, secBehind = max(maxBehind, s.Behind), max(secBehind, s.Behind)
		maxAge, secAge = max(maxAge, age), max(secAge, age)
		if s.at.Sub(second) >= time.Second {
			fmt.Fprintf(stdout, "%6.1fs head %d checkpoint %d max behind %d events, max lag %v\n",
				s.at.Sub(start).Seconds(), s.Head, s.Checkpoint, secBehind, secAge.Round(time.Millisecond))
			second, secBehind, secAge = s.at, 0, 0
		}
		if moved && !caughtUp.IsZero() && s.at.Sub(lastMove) >= idle {
			fmt.Fprintf(stdout, "max lag %d events, %v; caught up %v after the last append seen (sampling every %v)\n",
				maxBehind, maxAge.Round(time.Millisecond), max(0, caughtUp.Sub(lastMove)).Round(time.Millisecond), interval)
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
