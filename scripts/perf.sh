#!/usr/bin/env bash
# scripts/perf.sh — paymentd under the load command beside a bare Go JSON handler, on this
# machine, in one run (issue 17). Linux only: it reads /proc.
#
#   scripts/perf.sh              # the working tree
#   scripts/perf.sh 6296b41      # and a base revision, built in a temporary git worktree
#
# paymentd is built from the working tree and, with a revision, from that revision (in
# `git worktree add --detach`, removed afterwards). cmd/paymentload — the instrument, and the
# bare handler (`paymentload -serve-bare`) — is built once, from the working tree, so every
# paymentd is measured by the same client. For each paymentd, in a fresh process each: memory
# mode, then a data directory. Each: WARMUP payments, settle, then N payments at concurrency C
# (measured), settle, then the check that every confirmed payment is done downstream
# (PaymentCompleted), then HALF_N payments at half the measured rate for the PspApproved →
# PaymentCompleted p99. The bare handler gets the same flows (three JSON requests each) at the
# same concurrency. Printed per row:
#   pay/s       confirmed payments per second of the measured run
#   done/s      the same payments per second from the start of the measured run until the
#               last of them was done downstream (booked in the ledger and the wallet, both
#               completions recorded): the rate the whole pipeline keeps up, not only confirm
#   cpu-µs/pay  paymentd's utime+stime (/proc/PID/stat) over the measured run and the
#               downstream work it leaves, per confirmed payment
#   rss-B/pay   paymentd's VmRSS growth (/proc/PID/status) over the same window, per payment
#   drain-s     seconds from the end of the measured run until paymentd had settled: the
#               downstream work (Kafka, ledger, wallet, completion) it still had to do
#   done        confirmed payments of the measured run that reached PaymentCompleted
#   lost        webhooks the in-process simulator did not send because its queue was full
#               (warm-up and measured run): each is work paymentd was spared, so a row with
#               lost webhooks measured less than a payment's whole life
#   bare req/s  the bare handler's requests per second (measured just before this paymentd)
#   ratio       1 : bare req/s ÷ pay/s, and 1 : bare req/s ÷ done/s
#               (the bare handler moves with the machine by a third within an hour, so the
#               run ends with each row's ratios against the mean of all its bare measurements
#               too: one yardstick for every row of the run)
#   half        the rate asked for and reached at half of pay/s, and approved→done p99 there
# "settle" waits (at most SETTLE_MAX seconds) until the ledger, the wallet and the completion
# consumer have handled every confirmed payment (their positions on /metrics) and paymentd
# then uses under 10 % of a core over half a second, so neither the warm-up's tail nor the
# check's reads are counted, and the downstream work of every payment is. (CPU alone does not
# tell: with a data directory the completion consumer waits on fsync more than it computes.)
# Figures move with whatever else runs on the machine: compare rows of one run, and run it
# twice to see the noise.
#
# Variables (defaults take a few minutes for two revisions on an idle 2-core machine, much
# longer on a busy one):
#   N=20000 C=64 WARMUP=2000 HALF_N=5000 SETTLE_MAX=600 DONE_WITHIN=60s
#   KEEP=0 (1: keep the temporary directory with every output)
set -euo pipefail

N=${N:-20000}
C=${C:-64}
WARMUP=${WARMUP:-2000}
HALF_N=${HALF_N:-5000}
SETTLE_MAX=${SETTLE_MAX:-600}
DONE_WITHIN=${DONE_WITHIN:-60s}
KEEP=${KEEP:-0}
BASE=${1:-}

repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d /tmp/paystream-perf.XXXXXX)
basetree=""

cleanup() {
	for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ -n $basetree ]]; then git -C "$repo" worktree remove --force "$basetree" || true; fi
	if [[ $KEEP == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

log() { echo "perf: $*" >&2; }

# Builds.
head_rev=$(git -C "$repo" rev-parse --short HEAD)
[[ -z $(git -C "$repo" status --porcelain --untracked-files=no) ]] || head_rev="$head_rev+dirty"
builds=()
if [[ -n $BASE ]]; then
	base_rev=$(git -C "$repo" rev-parse --short "$BASE^{commit}")
	basetree="$tmp/base-tree"
	log "building paymentd at $base_rev (temporary worktree)"
	git -C "$repo" worktree add --quiet --detach "$basetree" "$base_rev"
	mkdir -p "$tmp/base"
	(cd "$basetree" && go build -o "$tmp/base/paymentd" ./cmd/paymentd)
	builds+=("base:$base_rev")
fi
log "building paymentd and paymentload from the working tree ($head_rev)"
mkdir -p "$tmp/head"
(cd "$repo" && go build -o "$tmp/head/paymentd" ./cmd/paymentd && go build -o "$tmp/paymentload" ./cmd/paymentload)
builds+=("head:$head_rev")
load="$tmp/paymentload"

. "$(dirname "${BASH_SOURCE[0]}")/perf-lib.sh"

# bare measures the bare handler into bare_rps (requests/s).
bare() {
	local out=$tmp/bare.out
	"$load" -serve-bare 127.0.0.1:0 >"$out" 2>&1 &
	local pid=$!
	local url
	url=$(wait_line "$out" 'http://[0-9.:]+')
	"$load" -url "$url" -sim "$url" -n "$WARMUP" -c "$C" >/dev/null
	"$load" -url "$url" -sim "$url" -n "$N" -c "$C" >"$tmp/bare.run"
	kill -INT "$pid"
	wait "$pid" || true
	bare_rps=$(field "$tmp/bare.run" 'requests:')
	echo "$bare_rps" >>"$tmp/bares"
}

# paymentd_row runs one paymentd binary ($1) in mode $2 (memory | data-dir) and prints the
# row's figures after its label $3, with the bare handler's requests/s $4.
paymentd_row() {
	local bin=$1 mode=$2 label=$3 bare_rps=$4 dir=$tmp/run-$3-$2
	mkdir -p "$dir"
	local args=(-log-level warn -addr 127.0.0.1:0 -tosssim-addr 127.0.0.1:0 -kafka-addr 127.0.0.1:0)
	[[ $mode == data-dir ]] && args+=(-data-dir "$dir/data")
	"$bin" "${args[@]}" >"$dir/paymentd.out" 2>&1 &
	local pid=$!
	local url sim key op
	url=$(wait_line "$dir/paymentd.out" 'paymentd listening on http://[0-9.:]+' | grep -oE 'http://[0-9.:]+')
	sim=$(wait_line "$dir/paymentd.out" 'tosssim listening on http://[0-9.:]+' | grep -oE 'http://[0-9.:]+')
	key=$(wait_line "$dir/paymentd.out" 'PAYSTREAM_MERCHANT_KEY=[^ ]+' | cut -d= -f2)
	op=$(wait_line "$dir/paymentd.out" 'PAYSTREAM_OPERATOR_KEY=[^ ]+' | cut -d= -f2)
	local to=(-url "$url" -sim "$sim" -key "$key" -c "$C" -done-within "$DONE_WITHIN")

	"$load" "${to[@]}" -n "$WARMUP" >"$dir/warmup"
	local warm confirmed
	warm=$(field "$dir/warmup" 'confirmed:')
	settle "$url" "$pid" "$op" "$warm"
	local cpu0 rss0 cpu1 rss1 started ended drain done_ps
	cpu0=$(ticks "$pid") rss0=$(rss_kb "$pid")
	started=$(date +%s.%N)
	"$load" "${to[@]}" -n "$N" -ids "$dir/ids" >"$dir/run"
	ended=$(date +%s.%N)
	confirmed=$(field "$dir/run" 'confirmed:')
	settle "$url" "$pid" "$op" $((warm + confirmed))
	cpu1=$(ticks "$pid") rss1=$(rss_kb "$pid")
	drain=$(echo "$(date +%s.%N) - $ended" | bc -l)
	done_ps=$(echo "$confirmed / ($done_at - $started)" | bc -l)
	"$load" "${to[@]}" -check-done "$dir/ids" >"$dir/check"
	local lost
	lost=$(curl -s "$sim/sim/v1/stats" | grep -oE '"overflowed": *[0-9]+' | head -1 | grep -oE '[0-9]+$')

	local pps ndone half
	pps=$(grep -oE '\([0-9]+ confirmed payments/s' "$dir/run" | grep -oE '[0-9]+')
	ndone=$(grep -oE '\([0-9]+ completed' "$dir/check" | grep -oE '[0-9]+')
	half=$(((pps + 1) / 2))
	"$load" "${to[@]}" -n "$HALF_N" -rate "$half" -downstream >"$dir/half"
	local half_pps half_p99 half_done
	half_pps=$(grep -oE '\([0-9]+ confirmed payments/s' "$dir/half" | grep -oE '[0-9]+')
	half_p99=$(grep -oE 'approved→done.*' "$dir/half" | awk '{print $5}')
	half_done=$(grep -oE '[0-9]+ not within' "$dir/half" | grep -oE '^[0-9]+')
	((half_done == 0)) || half_p99=">$DONE_WITHIN"
	kill "$pid"
	wait "$pid" || true

	if ((confirmed == 0)); then
		log "$label $mode: nothing confirmed"
		cat "$dir/run" >&2
		return 1
	fi
	printf '%-20s %-9s %7d %7.0f %10.0f %10.0f %7.1f %11s %6s %10.0f  1 : %-5.1f 1 : %-5.1f %6d/%-6d %8s%s\n' \
		"$label" "$mode" "$pps" "$done_ps" \
		"$(echo "($cpu1 - $cpu0) * 1000000 / $hz / $confirmed" | bc -l)" \
		"$(echo "($rss1 - $rss0) * 1024 / $confirmed" | bc -l)" "$drain" \
		"$ndone/$confirmed" "${lost:-?}" "$bare_rps" "$(echo "$bare_rps / $pps" | bc -l)" "$(echo "$bare_rps / $done_ps" | bc -l)" \
		"$half" "$half_pps" "$half_p99" "$( ((half_done == 0)) || echo "  ($half_done of the half-rate run not done)")"
	echo "$label $mode $pps $done_ps" >>"$tmp/rows"
	log "$label $mode: $(grep -E '^(flow|confirm) ' "$dir/run" | tr -s ' ' | paste -sd ';')"
}

echo "paystream perf: N=$N C=$C WARMUP=$WARMUP HALF_N=$HALF_N on $(nproc) cores, $(date -u +%FT%TZ)"
printf '%-20s %-9s %7s %7s %10s %10s %7s %11s %6s %10s  %-9s %-9s %13s %8s\n' \
	build mode pay/s done/s cpu-µs/pay rss-B/pay drain-s done lost 'bare req/s' ratio 'ratio done' 'half ask/got' 'p99'
for b in "${builds[@]}"; do
	label=${b/:/ }
	bin=$tmp/${b%%:*}/paymentd
	log "$label: bare handler"
	bare
	for mode in memory data-dir; do
		log "$label: paymentd, $mode"
		paymentd_row "$bin" "$mode" "${label// /-}" "$bare_rps"
	done
done

mean=$(awk '{s += $1} END {printf "%.0f", s / NR}' "$tmp/bares")
echo
echo "ratios against the run's mean bare handler ($mean requests/s, $(wc -l <"$tmp/bares") measurements), pay/s and done/s:"
while read -r label mode pps done_ps; do
	printf '%-20s %-9s 1 : %-5.1f 1 : %.1f\n' "$label" "$mode" "$(echo "$mean / $pps" | bc -l)" "$(echo "$mean / $done_ps" | bc -l)"
done <"$tmp/rows"
