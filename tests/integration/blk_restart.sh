#!/usr/bin/env bash
# Back-end restarts (run with --memory shadow: xen-vhostd then knows every
# request in flight and posts them again; a zero-copy back-end without
# INFLIGHT_SHMFD, such as Debian 12's qemu-storage-daemon, may lose some).
# 1: qemu-storage-daemon is killed (SIGKILL) in the middle
# of a stream of writes and started again; every write completes and the image
# holds exactly the guest's data. 2: it is killed and never comes back; the
# guest gets DEVICE_NEEDS_RESET within the connect timeout, instead of a hang.
set -euo pipefail
XVD=$1
SIMGUEST=$2
shift 2
. "$(dirname "$0")/lib.sh"

img=$xvd_tmp/disk.img
sectors=$((256 * 2048))		# 256 MiB
"$SIMGUEST" pattern --seed 9 --offset 0 --len $((sectors * 512)) >"$img"

qsd() {
	start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd$1.log"
	qsd_pid=${xvd_pids[-1]}
}
qsd 1
start_xvd "$xvd_tmp/xvd.log" --socket-path "$xvd_tmp" --sim "$xvd_tmp/sim.sock" \
	--connect-timeout 3000 -v "$@"
wait_socket "$xvd_tmp/sim.sock"

echo "restart: guest writes 128 MiB at depth 8; the back-end is killed meanwhile"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 7 --vcpus 2 --depth 8 \
	--write-lba 2048 --write-sectors $((128 * 2048)) --write-seed 21 \
	>"$xvd_tmp/guest1.out" 2>&1 &
guest=$!
xvd_pids+=("$guest")
wait_log "$xvd_tmp/xvd.log" 'dom7 blk0: driver ready'
sleep 0.5
kill -KILL "$qsd_pid"
wait "$qsd_pid" 2>/dev/null || true
wait_log "$xvd_tmp/xvd.log" 'dom7 blk0: back-end .* lost'
qsd 2
rc=0
wait "$guest" || rc=$?
cat "$xvd_tmp/guest1.out"
[ $rc -eq 0 ] || fail "guest 1 exited with $rc"
grep -q 'dom7 blk0: back-end .* reconnected' "$xvd_tmp/xvd.log" ||
	fail "the back-end was not killed during the stream (no reconnect logged)"
grep -E 'dom7 blk0.*(lost|reconnected|posted again|INFLIGHT)' "$xvd_tmp/xvd.log" |
	sed 's/^/  /'
same_bytes "$img" $((2048 * 512)) $((128 * 2048 * 512)) 21
same_bytes "$img" 0 $((2048 * 512)) 9
same_bytes "$img" $(((2048 + 128 * 2048) * 512)) $(((sectors - 2048 - 128 * 2048) * 512)) 9
wait_log "$xvd_tmp/xvd.log" 'dom7: released'

echo "restart: the back-end is killed and does not come back"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 8 --vcpus 1 --depth 8 \
	--write-lba 0 --write-sectors $((128 * 2048)) --write-seed 5 \
	>"$xvd_tmp/guest2.out" 2>&1 &
guest=$!
xvd_pids+=("$guest")
wait_log "$xvd_tmp/xvd.log" 'dom8 blk0: driver ready'
kill -KILL "$qsd_pid"
start=$(date +%s)
rc=0
wait "$guest" || rc=$?
took=$(($(date +%s) - start))
cat "$xvd_tmp/guest2.out"
[ $rc -ne 0 ] || fail "guest 2 finished although its back-end is gone"
grep -q 'device needs reset' "$xvd_tmp/guest2.out" ||
	fail "guest 2 did not see DEVICE_NEEDS_RESET"
grep -q 'dom8 blk0: back-end .* did not come back' "$xvd_tmp/xvd.log" ||
	fail "no give-up logged"
[ "$took" -le 8 ] || fail "NEEDS_RESET took ${took}s (connect timeout 3s)"
echo "restart: guest 2 got NEEDS_RESET after ${took}s"
stop_xvd
echo "blk-restart: ok"
