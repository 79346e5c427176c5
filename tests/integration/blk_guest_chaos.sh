#!/usr/bin/env bash
# What a guest driver can do to a device at any moment, with requests in
# flight: Status=0 resets, driver reloads (new rings), and the domain going
# away. xen-vhostd must stay consistent: each following guest's I/O is
# verified byte for byte in the image, the daemon keeps its file
# descriptors, and it exits cleanly (no sanitizer report).
set -euo pipefail
# Extra arguments go to xen-vhostd (e.g. --memory shadow).
XVD=$1
SIMGUEST=$2
shift 2
. "$(dirname "$0")/lib.sh"

blk_image 8192 3
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"
start_xvd_sim "$xvd_tmp/xvd.log" -v "$@"
fds() { ls "/proc/$xvd_pid/fd" | wc -l; }

echo "guest 1: 12 resets and reloads with 8 reads in flight each, then verified I/O"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 5 --vcpus 2 \
	--depth 8 --event-idx --indirect --reset-mid-io 12 \
	--write-lba 1024 --write-sectors 256 --write-seed 21 \
	--read-lba 4096 --read-sectors 64 --read-seed 3 >"$xvd_tmp/guest1.out" ||
	{ cat "$xvd_tmp/guest1.out"; fail "guest 1 failed"; }
[ "$(grep -c 'request(s) in flight ok' "$xvd_tmp/guest1.out")" = 12 ] ||
	fail "guest 1 did not do its 12 cycles"
grep -q 'reset 1 with 8 request(s) in flight ok' "$xvd_tmp/guest1.out" ||
	fail "guest 1 had no requests in flight at its first reset"
grep 'in flight ok' "$xvd_tmp/guest1.out" | head -n 2
same_bytes "$img" $((1024 * 512)) $((256 * 512)) 21
wait_log "$xvd_tmp/xvd.log" 'dom5: released'
base=$(fds)

for round in 1 2 3; do
	echo "guest $((round + 1)): exits with requests in flight (domain destroyed mid-I/O)"
	"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid $((5 + round)) \
		--depth 8 --die-mid-io >"$xvd_tmp/guest-die.out" ||
		{ cat "$xvd_tmp/guest-die.out"; fail "guest $((round + 1)) failed"; }
	grep -q 'exiting with 8 request(s) in flight' "$xvd_tmp/guest-die.out" ||
		fail "guest $((round + 1)) had no requests in flight"
	wait_log "$xvd_tmp/xvd.log" "dom$((5 + round)): released"
done

echo "guest 5: verified I/O after all that"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 9 --depth 8 \
	--write-lba 2048 --write-sectors 512 --write-seed 33 \
	--read-lba 1024 --read-sectors 256 --read-seed 21 ||
	fail "guest 5 failed"
same_bytes "$img" $((2048 * 512)) $((512 * 512)) 33
wait_log "$xvd_tmp/xvd.log" 'dom9: released'
now=$(fds)
[ "$now" -le "$base" ] || fail "xen-vhostd holds $now fds, $base before the destroyed guests"
echo "fds: $base before, $now after 3 destroyed guests and 1 more"
grep -E 'warn|needs reset|lost' "$xvd_tmp/xvd.log" | head -n 5 || true
stop_xvd
echo "blk-guest-chaos: ok"
