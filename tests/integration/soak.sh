#!/usr/bin/env bash
# Soak: XVD_SOAK_N (default 1000) simulated guests come and go through one
# xen-vhostd, each with a virtio-blk device doing I/O; every other one is
# SIGKILLed while its requests are in flight. xen-vhostd's open fds and
# resident memory must not grow (reported), and it must exit cleanly
# (under ASan: no leak report).
set -euo pipefail
XVD=$1
SIMGUEST=$2
shift 2
. "$(dirname "$0")/lib.sh"
n=${XVD_SOAK_N:-1000}

img=$xvd_tmp/disk.img
"$SIMGUEST" pattern --seed 1 --offset 0 --len $((64 << 20)) >"$img"
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"
# A small ASan quarantine, so that resident memory measures live memory.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 \
	start_xvd "$xvd_tmp/xvd.log" --socket-path "$xvd_tmp" \
	--sim "$xvd_tmp/sim.sock" "$@"
wait_socket "$xvd_tmp/sim.sock"

fds() { ls "/proc/$xvd_pid/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$xvd_pid/status"; }

killed=0 ok=0
for ((i = 1; i <= n; i++)); do
	dom=$((100 + i % 30000))
	if ((i % 2 == 0)); then
		# I/O in flight when the guest dies: kill it mid-stream.
		"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid $dom --vcpus 2 \
			--depth 8 --write-lba 0 --write-sectors 16384 --write-seed 3 \
			>/dev/null 2>&1 &
		g=$!
		sleep "0.0$((RANDOM % 4))"
		kill -KILL $g 2>/dev/null || true
		wait $g 2>/dev/null || true
		killed=$((killed + 1))
	else
		"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid $dom --vcpus 1 \
			--depth 4 --write-lba $((i % 1000 * 64)) --write-sectors 64 \
			--write-seed $((i % 200)) >"$xvd_tmp/guest.out" 2>&1 ||
			{ cat "$xvd_tmp/guest.out"; fail "guest $i failed"; }
		ok=$((ok + 1))
	fi
	# Wait until the daemon has released this guest before the next.
	for ((w = 0; w < 200; w++)); do
		[ "$(grep -c "dom$dom: released\|dom$dom: simulated domain destroyed\|dom$dom: refused" "$xvd_tmp/xvd.log" || true)" -gt 0 ] && break
		sleep 0.01
	done
	# Drop the log lines of finished guests: keeps the grep above cheap.
	if ((i % 50 == 0)); then
		: >"$xvd_tmp/xvd.log"
	fi
	if ((i == 20)); then
		fd0=$(fds)
		rss0=$(rss_kb)
	fi
done
fd1=$(fds)
rss1=$(rss_kb)
echo "soak: $n guests ($ok complete, $killed killed mid-I/O)"
echo "soak: xen-vhostd open fds after 20 guests: $fd0, after $n: $fd1"
echo "soak: xen-vhostd VmRSS after 20 guests: ${rss0} KiB, after $n: ${rss1} KiB"
[ "$fd1" -le "$fd0" ] || fail "open fds grew from $fd0 to $fd1"
# Default 1 MiB: heap noise, far below a guest's worth per 50 guests. ASan's
# allocator keeps more for itself: scripts/test gives that run more slack.
slack=${XVD_SOAK_RSS_SLACK_KB:-1024}
[ "$rss1" -le $((rss0 + slack)) ] ||
	fail "resident memory grew from $rss0 to $rss1 KiB (allowed: $slack)"
stop_xvd
echo "soak: ok"
