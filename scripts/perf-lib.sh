# scripts/perf-lib.sh — what scripts/perf.sh and scripts/rss.sh share: reading a process's
# CPU and memory from /proc, and waiting for paymentd to settle. Sourced, not run; the caller
# sets SETTLE_MAX and defines log.

hz=$(getconf CLK_TCK)

# ticks prints utime+stime of process $1 in clock ticks (fields 14 and 15 of its stat,
# counted after the command name, which may hold spaces).
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# position prints follower $3's position on paymentd $1's /metrics (operator key $2).
position() {
	curl -s -H "Authorization: Bearer $2" "$1/metrics" |
		awk -v f="paystream_follower_position{follower=\"$3\"}" '$1 == f {print $2; found = 1} END {if (!found) print 0}'
}

# settle waits (at most SETTLE_MAX s) until paymentd $1 (pid $2, operator key $3) has booked
# $4 payments in the ledger and the wallet and recorded both completions of each (it sets
# done_at to that moment, in seconds since the epoch, to a fifth of a second), then until it
# uses under 10 % of a core over half a second.
settle() {
	local t0 t1 deadline=$((SECONDS + SETTLE_MAX))
	until (($(position "$1" "$3" ledger) >= $4 && $(position "$1" "$3" wallet) >= $4 &&
		$(position "$1" "$3" completion) >= 2 * $4)); do
		if ((SECONDS > deadline)); then
			log "pid $2 did not settle within $SETTLE_MAX s: its CPU and RSS figures miss what it still had to do"
			done_at=$(date +%s.%N)
			return 0
		fi
		sleep 0.2
	done
	done_at=$(date +%s.%N)
	while ((SECONDS <= deadline)); do
		t0=$(ticks "$2")
		sleep 0.5
		t1=$(ticks "$2")
		((t1 - t0 <= hz / 20)) && return 0
	done
	log "pid $2 did not go quiet within $SETTLE_MAX s: its CPU and RSS figures include what it still did"
}

# wait_line waits (at most 30 s) for a line matching $2 in file $1 and prints its last match.
wait_line() {
	for _ in $(seq 300); do
		if grep -qE "$2" "$1"; then
			grep -oE "$2" "$1" | tail -1
			return 0
		fi
		sleep 0.1
	done
	log "no line matching '$2' in $1:"
	cat "$1" >&2
	return 1
}

# field prints the first number after $2 in file $1's line matching $2.
field() { grep -oE "$2 *[0-9.]+" "$1" | head -1 | grep -oE '[0-9.]+$'; }

