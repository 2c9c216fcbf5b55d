#!/usr/bin/env bash
# scripts/rss.sh — paymentd's resident memory over a long run with a data directory (issue 17:
# growth per payment over 200,000 payments). Linux only: it reads /proc.
#
#   scripts/rss.sh                 # N=200000 payments in steps of STEP=20000
#   N=50000 STEP=10000 scripts/rss.sh
#
# Builds paymentd and paymentload from the working tree, starts paymentd with a data
# directory in a temporary folder, runs WARMUP payments and then N more at concurrency C, STEP
# at a time, waiting after each step until paymentd has settled (every payment booked and
# completed downstream, paymentd idle; see perf-lib.sh). After each step it prints the
# payments so far, VmRSS, the Go heap in use (/metrics), the data directory's size, and RSS
# growth per payment since the warm-up and since the first step (bounded caches — the event
# store's, the command cache, Pebble's — fill during the first steps, so the later figure
# is what every further payment costs).
#
# Variables: N=200000 STEP=20000 C=64 WARMUP=2000 SETTLE_MAX=600 KEEP=0 (1: keep the folder)
set -euo pipefail

N=${N:-200000}
STEP=${STEP:-20000}
C=${C:-64}
WARMUP=${WARMUP:-2000}
SETTLE_MAX=${SETTLE_MAX:-600}
KEEP=${KEEP:-0}

repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d /tmp/paystream-rss.XXXXXX)
cleanup() {
	for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ $KEEP == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
log() { echo "rss: $*" >&2; }
. "$repo/scripts/perf-lib.sh"

log "building paymentd and paymentload from the working tree"
(cd "$repo" && go build -o "$tmp/paymentd" ./cmd/paymentd && go build -o "$tmp/paymentload" ./cmd/paymentload)
"$tmp/paymentd" -log-level warn -addr 127.0.0.1:0 -tosssim-addr 127.0.0.1:0 -kafka-addr 127.0.0.1:0 -data-dir "$tmp/data" \
	>"$tmp/paymentd.out" 2>&1 &
pid=$!
url=$(wait_line "$tmp/paymentd.out" 'paymentd listening on http://[0-9.:]+' | grep -oE 'http://[0-9.:]+')
sim=$(wait_line "$tmp/paymentd.out" 'tosssim listening on http://[0-9.:]+' | grep -oE 'http://[0-9.:]+')
key=$(wait_line "$tmp/paymentd.out" 'PAYSTREAM_MERCHANT_KEY=[^ ]+' | cut -d= -f2)
op=$(wait_line "$tmp/paymentd.out" 'PAYSTREAM_OPERATOR_KEY=[^ ]+' | cut -d= -f2)
to=(-url "$url" -sim "$sim" -key "$key" -c "$C")

heap_mb() {
	curl -s -H "Authorization: Bearer $op" "$url/metrics" |
		awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%.0f", $2 / 1048576}'
}

"$tmp/paymentload" "${to[@]}" -n "$WARMUP" >"$tmp/warmup"
total=$(field "$tmp/warmup" 'confirmed:')
settle "$url" "$pid" "$op" "$total"
rss0=$(rss_kb "$pid") done0=$total rss1="" done1=""
echo "paystream rss: N=$N STEP=$STEP C=$C WARMUP=$WARMUP on $(nproc) cores, $(date -u +%FT%TZ), head $(git -C "$repo" rev-parse --short HEAD)"
printf '%9s %8s %8s %9s %9s %14s %16s\n' payments rss-MB heap-MB data-MB pay/s 'B/pay (all)' 'B/pay (step 2+)'
for ((run = STEP; run <= N; run += STEP)); do
	"$tmp/paymentload" "${to[@]}" -n "$STEP" >"$tmp/step"
	total=$((total + $(field "$tmp/step" 'confirmed:')))
	settle "$url" "$pid" "$op" "$total"
	rss=$(rss_kb "$pid")
	if [[ -z $rss1 ]]; then rss1=$rss done1=$total; fi
	later="-"
	((total > done1)) && later=$(((rss - rss1) * 1024 / (total - done1)))
	printf '%9d %8d %8s %9s %9s %14d %16s\n' "$total" $((rss / 1024)) "$(heap_mb)" "$(du -sm "$tmp/data" | cut -f1)" \
		"$(grep -oE '\([0-9]+ confirmed payments/s' "$tmp/step" | grep -oE '[0-9]+')" \
		$(((rss - rss0) * 1024 / (total - done0))) "$later"
done
kill "$pid"
wait "$pid" || true
