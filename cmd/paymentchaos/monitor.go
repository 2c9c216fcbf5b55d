package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// monitor checks, while load and faults run, what must hold at every moment, not only
// once the system has converged:
//
//   - the simulator never captured more payments than buyers authorised (a second capture
//     of an order shows here first);
//   - every write paymentd acknowledged is in the order's stream (read from the event
//     store, not the read model), when first seen and again at random later: a fault may
//     delay it, never undo it.
//
// Looks that fail because a process is down or paused are not violations: they are retried
// on the next round.
type monitor struct {
	st   *stack
	load *load
	r    *rand.Rand

	mu       sync.Mutex
	rounds   int
	seen     map[ack]bool // acknowledged writes found in their stream at least once
	problems []string
}

func newMonitor(st *stack, l *load, seed int64) *monitor {
	return &monitor{st: st, load: l, r: rand.New(rand.NewPCG(uint64(seed), 3)), seen: map[ack]bool{}}
}

// run looks every interval until ctx ends.
func (m *monitor) run(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		m.round(ctx, 200)
	}
}

// round is one look at up to limit new acknowledgements (and a few seen before); the final
// look after convergence has no limit.
func (m *monitor) round(ctx context.Context, limit int) {
	sessions, acked := m.load.progress()
	var stats struct {
		Approvals int `json:"approvals"`
	}
	if _, err := call(ctx, http.MethodGet, m.st.simURL+"/sim/v1/stats", "", nil, &stats); err == nil && stats.Approvals > sessions {
		m.violated(fmt.Sprintf("%d captures at the simulator for %d authorised sessions", stats.Approvals, sessions))
	}
	// New acknowledgements first, then a sample of those seen before.
	var todo, again []ack
	m.mu.Lock()
	for _, a := range acked {
		if !m.seen[a] {
			todo = append(todo, a)
		} else {
			again = append(again, a)
		}
	}
	m.r.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
	m.rounds++
	m.mu.Unlock()
	todo = append(todo[:min(len(todo), limit)], again[:min(len(again), 20)]...)
	for _, a := range todo {
		found, err := m.recorded(ctx, a)
		if err != nil {
			continue // paymentd down or paused: next round
		}
		m.mu.Lock()
		switch {
		case found:
			m.seen[a] = true
		case m.seen[a]:
			m.problems = append(m.problems, fmt.Sprintf("%s: %s was recorded, and is gone", a.orderID, a.eventType))
		default:
			m.problems = append(m.problems, fmt.Sprintf("%s: acknowledged, but no %s in its stream", a.orderID, a.eventType))
		}
		m.mu.Unlock()
	}
}

// recorded reports whether a's event is in its order's stream.
func (m *monitor) recorded(ctx context.Context, a ack) (bool, error) {
	var stream struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	code, err := m.st.callPaymentd(ctx, http.MethodGet, "/v1/payments/"+a.orderID+"/events", m.st.merchant(), nil, &stream)
	if code == http.StatusNotFound {
		return false, nil // no stream at all
	}
	if err != nil {
		return false, err
	}
	want := []string{a.eventType}
	if a.eventType == "payment.psp-approved.v1" {
		want = append(want, "payment.manually-resolved.v1") // an approval an operator settled
	}
	for _, e := range stream.Events {
		if slices.Contains(want, e.Type) {
			return true, nil
		}
	}
	return false, nil
}

func (m *monitor) violated(p string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problems = append(m.problems, p)
}

// check is the monitor's invariant for the report: what it found over the whole run, and
// how many acknowledged writes it could confirm.
func (m *monitor) check(total int) check {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.problems
	if len(m.seen) < total {
		ps = append(ps[:len(ps):len(ps)], fmt.Sprintf("%d acknowledged writes never found readable", total-len(m.seen)))
	}
	c := check{name: "every acknowledged write recorded, at every look", ok: len(ps) == 0,
		detail: fmt.Sprintf("%d rounds, %d of %d acknowledged writes found in their streams", m.rounds, len(m.seen), total)}
	if !c.ok {
		if len(ps) > 5 {
			ps = append(ps[:5:5], fmt.Sprintf("… %d more", len(ps)-5))
		}
		c.detail = fmt.Sprint(ps)
	}
	return c
}
