package tosssim

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"
)

const (
	idempotencyKeyTTL    = 15 * 24 * time.Hour
	maxIdempotencyKeyLen = 300
	maxRequestBody       = 64 << 10
)

// answer is an HTTP response decided by the simulator; idempotent repeats replay it as is.
type answer struct {
	status int
	body   []byte
	// unprocessed: refused before the request was processed (a guard such as the
	// consecutive-request window), so its idempotency key stays free for a retry.
	unprocessed bool
	// payment: the order a Payment body was rendered from (paymentAnswer), which the
	// idempotency keys keep instead of the body.
	payment *paymentSnapshot
}

// paymentSnapshot is the order a Payment answer was rendered from, encoded, so that a
// database keeps an idempotency key's answer as its order (a few hundred bytes) rather than
// its body (about two kilobytes). render is a function of the encoded fields, the orderId
// and the language, so rendering the snapshot again gives the body byte for byte.
type paymentSnapshot struct {
	orderID string
	order   []byte
	english bool
}

// paymentAnswer is 200 with o's Payment object, for a request whose answer an
// Idempotency-Key keeps. Call with o.mu held.
func (s *Simulator) paymentAnswer(o *order, english bool) answer {
	return answer{status: http.StatusOK, body: o.render(english),
		payment: &paymentSnapshot{orderID: o.id, order: encodeOrder(nil, o), english: english}}
}

func (a answer) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write(a.body)
}

func errorAnswer(status int, code, message string) answer {
	return answer{status: status, body: mustJSON(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})}
}

// mustJSON encodes values built by the simulator itself, which always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tosssim: encode %T: %v", v, err))
	}
	return b
}

// apiCall is one Toss API request as the shared pipeline in serve sees it.
type apiCall struct {
	movesMoney bool    // a confirm or a cancel: provider errors and drops apply too
	invalid    *answer // the request is malformed: answered after Test-Code, never executed
	exec       func(now time.Time, english bool) answer
}

// serve runs the steps every Toss endpoint shares, in this order: authentication,
// Idempotency-Key length, TossPayments-Test-Code, request validation, idempotency, latency,
// faults, execution. Only executed answers are kept for idempotent repeats: a fault or a
// malformed request leaves the key free for a retry.
func (s *Simulator) serve(w http.ResponseWriter, r *http.Request, c apiCall) {
	apiKey, fail, ok := s.authenticate(r.Header.Get("Authorization"))
	if !ok {
		fail.write(w)
		return
	}
	var idemKey string
	if r.Method == http.MethodPost { // Toss ignores the header on GET
		idemKey = r.Header.Get("Idempotency-Key")
	}
	if utf8.RuneCountInString(idemKey) > maxIdempotencyKeyLen {
		errorAnswer(http.StatusBadRequest, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key is longer than 300 characters").write(w)
		return
	}
	if code := r.Header.Get("TossPayments-Test-Code"); code != "" {
		s.stats.testCodes.Add(1)
		testCodeAnswer(code).write(w)
		return
	}
	if c.invalid != nil {
		c.invalid.write(w)
		return
	}

	scope := idemScope{key: idemKey, apiKey: apiKey, method: r.Method, path: r.URL.EscapedPath()}
	var entry *idemEntry
	if idemKey != "" {
		claimed, replay, busy := s.idem.claim(scope, s.now())
		switch {
		case busy:
			s.stats.idempotencyConflicts.Add(1)
			errorAnswer(http.StatusConflict, "IDEMPOTENT_REQUEST_PROCESSING", "a request with this Idempotency-Key is still being processed").write(w)
			return
		case replay != nil:
			s.stats.idempotentReplays.Add(1)
			replay.write(w)
			return
		}
		entry = claimed
	}

	// Latency is Toss working: it runs to the end even if the caller gives up, as a real
	// confirm or cancel would, so a caller's timeout does not mean nothing happened.
	delay, f := s.chaos.draw(c.movesMoney)
	time.Sleep(delay)
	switch f {
	case fault5xx:
		s.stats.injected5xx.Add(1)
		s.idem.release(scope, entry)
		errorAnswer(http.StatusInternalServerError, "FAILED_INTERNAL_SYSTEM_PROCESSING", "injected internal error").write(w)
		return
	case faultProviderError:
		s.stats.injectedProviderErrors.Add(1)
		s.idem.release(scope, entry)
		errorAnswer(http.StatusBadRequest, "PROVIDER_ERROR", "injected provider error").write(w)
		return
	case faultTimeout:
		s.stats.injectedTimeouts.Add(1)
		<-r.Context().Done()
		s.idem.release(scope, entry)
		panic(http.ErrAbortHandler) // close the connection with no answer at all
	}

	a := c.exec(s.now(), isEnglish(r.Header.Get("Accept-Language")))
	switch {
	case a.unprocessed:
		s.idem.release(scope, entry)
	case entry != nil:
		s.idem.keep(scope, entry, a)
	}
	if f == faultDropAfterApprove {
		s.stats.injectedDrops.Add(1)
		panic(http.ErrAbortHandler)
	}
	a.write(w)
}

// authenticate checks "Authorization: Basic base64(secretKey + ":")" and returns the key.
func (s *Simulator) authenticate(header string) (string, answer, bool) {
	if header == "" {
		return "", errorAnswer(http.StatusUnauthorized, "UNAUTHORIZED_KEY", "no Authorization header"), false
	}
	scheme, cred, _ := strings.Cut(header, " ")
	raw, err := base64.StdEncoding.DecodeString(cred)
	key, _, hasColon := strings.Cut(string(raw), ":")
	if !strings.EqualFold(scheme, "Basic") || err != nil || !hasColon {
		return "", errorAnswer(http.StatusForbidden, "INCORRECT_BASIC_AUTH_FORMAT", `Authorization must be "Basic " + base64(secretKey + ":")`), false
	}
	if !s.accepts(key) {
		return "", errorAnswer(http.StatusUnauthorized, "UNAUTHORIZED_KEY", "unknown secret key"), false
	}
	return key, answer{}, true
}

func (s *Simulator) accepts(key string) bool {
	if s.keys == nil {
		return strings.HasPrefix(key, "test_sk_") || strings.HasPrefix(key, "test_gsk_")
	}
	_, ok := s.keys[key]
	return ok
}

func isEnglish(acceptLanguage string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(acceptLanguage)), "en")
}

// testCodeStatus holds the HTTP status of the error codes that are not 400, from Toss's
// error table; any other code is answered with 400.
var testCodeStatus = map[string]int{
	"UNAUTHORIZED_KEY": http.StatusUnauthorized,

	"REJECT_CARD_PAYMENT":            http.StatusForbidden,
	"REJECT_CARD_COMPANY":            http.StatusForbidden,
	"REJECT_ACCOUNT_PAYMENT":         http.StatusForbidden,
	"FORBIDDEN_REQUEST":              http.StatusForbidden,
	"REJECT_TOSSPAY_INVALID_ACCOUNT": http.StatusForbidden,
	"EXCEED_MAX_AUTH_COUNT":          http.StatusForbidden,
	"EXCEED_MAX_ONE_DAY_AMOUNT":      http.StatusForbidden,
	"NOT_AVAILABLE_BANK":             http.StatusForbidden,
	"INVALID_PASSWORD":               http.StatusForbidden,
	"INCORRECT_BASIC_AUTH_FORMAT":    http.StatusForbidden,
	"FDS_ERROR":                      http.StatusForbidden,
	"FORBIDDEN_CONSECUTIVE_REQUEST":  http.StatusForbidden,
	"NOT_CANCELABLE_AMOUNT":          http.StatusForbidden,
	"NOT_CANCELABLE_PAYMENT":         http.StatusForbidden,

	"NOT_FOUND_PAYMENT":         http.StatusNotFound,
	"NOT_FOUND_PAYMENT_SESSION": http.StatusNotFound,

	"IDEMPOTENT_REQUEST_PROCESSING": http.StatusConflict,

	"FAILED_INTERNAL_SYSTEM_PROCESSING":         http.StatusInternalServerError,
	"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": http.StatusInternalServerError,
	"UNKNOWN_PAYMENT_ERROR":                     http.StatusInternalServerError,
	"FAILED_REFUND_PROCESS":                     http.StatusInternalServerError,

	// Cancel codes (docs.tosspayments.com/reference/error-codes, "결제 취소").
	"EXCEED_MAX_REFUND_DUE":                      http.StatusForbidden,
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": http.StatusForbidden,
	"NOT_ALLOWED_PARTIAL_REFUND":                 http.StatusForbidden,
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER":    http.StatusForbidden,
	"FAILED_METHOD_HANDLING_CANCEL":              http.StatusInternalServerError,
	"FAILED_PARTIAL_REFUND":                      http.StatusInternalServerError,
	"COMMON_ERROR":                               http.StatusInternalServerError,
	"FAILED_CLOSED_ACCOUNT_REFUND":               http.StatusInternalServerError,
}

func testCodeAnswer(code string) answer {
	status, ok := testCodeStatus[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return errorAnswer(status, code, "answered as asked by TossPayments-Test-Code")
}

// idemScope is what Toss keys idempotency on.
type idemScope struct{ key, apiKey, method, path string }

type idemEntry struct {
	firstUsed time.Time
	answer    atomic.Pointer[answer] // nil while the first request is in flight
}

// idempotency keeps the answers to Idempotency-Keys for 15 days: the keys whose first
// request is in flight in memory, as many as there are requests in progress, and the
// answered ones in kept (in memory, or in a database). Safe for concurrent use.
type idempotency struct {
	swept  atomic.Int64 // Unix nanoseconds of the last sweep of expired keys
	shards [idemShards]idemShard
	kept   keptAnswers
}

// idempotencySweep is how often claim drops the keys older than 15 days that nobody used
// again: otherwise every key and its answer would be kept for ever.
const idempotencySweep = time.Hour

// idemShards spreads the idempotency keys over locks by their hash.
const idemShards = 64

// idemShard serialises the claims, keeps and sweeps of the scopes hashing to it: a key is
// looked up among the kept answers and claimed, or answered and kept, under its lock.
type idemShard struct {
	mu     sync.Mutex
	flight map[[sha256.Size]byte]*idemEntry
}

// keptAnswers holds the answered keys, each under its scope's hash with when it was first
// used: memKept in memory, diskKept in a database. load and store are called with the
// key's shard of idempotency locked; sweep and count take the shards' locks themselves.
type keptAnswers interface {
	load(h [sha256.Size]byte) (a *answer, firstUsed time.Time, ok bool)
	store(h [sha256.Size]byte, firstUsed time.Time, a answer)
	sweep(now time.Time, idem *idempotency)
	count(idem *idempotency) int
}

func newIdempotency(kept keptAnswers) *idempotency {
	m := &idempotency{kept: kept}
	for i := range m.shards {
		m.shards[i].flight = map[[sha256.Size]byte]*idemEntry{}
	}
	return m
}

func (s idemScope) hash() [sha256.Size]byte {
	var b encoder
	b = b.str(s.key).str(s.apiKey).str(s.method).str(s.path)
	return sha256.Sum256(b)
}

func (m *idempotency) shard(h [sha256.Size]byte) *idemShard { return &m.shards[idemShardOf(h)] }

// idemShardOf is the shard of the scope whose hash is h.
func idemShardOf(h [sha256.Size]byte) int { return int(h[0]) % idemShards }

// claim registers the first use of scope, or reports the answer to replay, or that the
// first request is still in flight. Keys older than 15 days are forgotten.
func (m *idempotency) claim(scope idemScope, now time.Time) (claimed *idemEntry, replay *answer, busy bool) {
	m.sweep(now)
	h := scope.hash()
	sh := m.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.flight[h]; e != nil && now.Sub(e.firstUsed) < idempotencyKeyTTL {
		if a := e.answer.Load(); a != nil {
			return nil, a, false
		}
		return nil, nil, true
	}
	if a, first, ok := m.kept.load(h); ok && now.Sub(first) < idempotencyKeyTTL {
		return nil, a, false
	}
	e := &idemEntry{firstUsed: now}
	sh.flight[h] = e
	return e, nil, false
}

// keep records a, the answer of the claimed request, for its repeats.
func (m *idempotency) keep(scope idemScope, e *idemEntry, a answer) {
	e.answer.Store(&a)
	h := scope.hash()
	sh := m.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.flight[h] != e {
		return // a later claim took the key over once this one was 15 days old
	}
	m.kept.store(h, e.firstUsed, a)
	delete(sh.flight, h)
}

// release frees a claimed key whose request was not executed.
func (m *idempotency) release(scope idemScope, e *idemEntry) {
	if e == nil {
		return
	}
	h := scope.hash()
	sh := m.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.flight[h] == e {
		delete(sh.flight, h)
	}
}

// sweep forgets the keys first used 15 days ago, at most once per idempotencySweep.
func (m *idempotency) sweep(now time.Time) {
	last := m.swept.Load()
	if now.UnixNano()-last < int64(idempotencySweep) || !m.swept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	m.kept.sweep(now, m)
}

// held is how many keys are kept, in flight or answered.
func (m *idempotency) held() int {
	n := m.kept.count(m)
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].flight)
		m.shards[i].mu.Unlock()
	}
	return n
}

// memKept keeps the answered keys in memory, each as its answer encoded by encodeKept (a
// Payment answer as its order's snapshot, a few hundred bytes): one pointer-free object
// per key. A struct per key holding the request's strings and the rendered body (two
// kilobytes) cost the garbage collector a dozen objects per confirm to mark, kept for 15
// days: a third of memory mode's heap objects (docs/performance.md, eighth stop). A map per
// shard, used under that shard's lock.
type memKept [idemShards]map[[sha256.Size]byte]keptAnswer

// keptAnswer is an answered key: when it was first used, and encodeKept's bytes.
type keptAnswer struct {
	firstUsed int64 // Unix nanoseconds
	encoded   []byte
}

func newMemKept() *memKept {
	var k memKept
	for i := range k {
		k[i] = map[[sha256.Size]byte]keptAnswer{}
	}
	return &k
}

func (k *memKept) load(h [sha256.Size]byte) (*answer, time.Time, bool) {
	v, ok := k[idemShardOf(h)][h]
	if !ok {
		return nil, time.Time{}, false
	}
	_, a, err := decodeKept(v.encoded)
	if err != nil {
		panic(fmt.Sprintf("tosssim: decode a kept idempotency answer: %v", err)) // encodeKept wrote it in this process
	}
	return &a, time.Unix(0, v.firstUsed), true
}

func (k *memKept) store(h [sha256.Size]byte, firstUsed time.Time, a answer) {
	k[idemShardOf(h)][h] = keptAnswer{firstUsed: firstUsed.UnixNano(), encoded: encodeKept(nil, firstUsed, a)}
}

func (k *memKept) sweep(now time.Time, idem *idempotency) {
	for i := range k {
		idem.shards[i].mu.Lock()
		for h, v := range k[i] {
			if now.Sub(time.Unix(0, v.firstUsed)) >= idempotencyKeyTTL {
				delete(k[i], h)
			}
		}
		idem.shards[i].mu.Unlock()
	}
}

func (k *memKept) count(idem *idempotency) int {
	n := 0
	for i := range k {
		idem.shards[i].mu.Lock()
		n += len(k[i])
		idem.shards[i].mu.Unlock()
	}
	return n
}
