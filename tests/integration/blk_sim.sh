#!/usr/bin/env bash
# A simulated guest writes and reads a virtio-blk disk served by
# qemu-storage-daemon through xen-vhostd; the image file is checked byte for
# byte. Two guests in a row (the daemon must serve the second after the first
# disconnects), the second with indirect descriptors, event idx and depth 8.
set -euo pipefail
# Extra arguments go to xen-vhostd (e.g. --memory shadow).
XVD=$1
SIMGUEST=$2
shift 2
mode=zero-copy
[ "${1:-}" = "--memory" ] && [ "${2:-}" = shadow ] && mode=shadow
. "$(dirname "$0")/lib.sh"

sectors=8192
blk_image $sectors 9
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"
start_xvd_sim "$xvd_tmp/xvd.log" -vv "$@"

echo "guest 1: 2 vCPUs, depth 1"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 5 --vcpus 2 \
	--expect-sectors $sectors \
	--write-lba 2048 --write-sectors 64 --write-seed 7 \
	--read-lba 0 --read-sectors 64 --read-seed 9 --invalidate ||
	fail "guest 1 failed"
same_bytes "$img" $((2048 * 512)) $((64 * 512)) 7
same_bytes "$img" 0 $((2048 * 512)) 9
same_bytes "$img" $((2112 * 512)) $(((sectors - 2112) * 512)) 9
# As xl destroy waits for the back-end: the next guest reuses blk.sock0.
wait_log "$xvd_tmp/xvd.log" 'dom5: released'

echo "guest 2: 4 vCPUs, indirect, event idx, depth 8"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 6 --vcpus 4 \
	--indirect --event-idx --depth 8 --expect-sectors $sectors \
	--write-lba 4096 --write-sectors 256 --write-seed 11 \
	--read-lba 2048 --read-sectors 64 --read-seed 7 ||
	fail "guest 2 failed"
same_bytes "$img" $((4096 * 512)) $((256 * 512)) 11
same_bytes "$img" $((2048 * 512)) $((64 * 512)) 7

if [ $mode = shadow ]; then
	grep -q 'dom5 blk0: driver ready.*shadow virtqueues' "$xvd_tmp/xvd.log" ||
		fail "dom5 did not use shadow virtqueues"
else
	grep -q 'dom5 blk0: driver ready.*zero copy' "$xvd_tmp/xvd.log" ||
		fail "dom5 did not use zero copy"
fi
grep -q 'dom6 blk0: driver ready' "$xvd_tmp/xvd.log" || fail "no relay log for dom6"
stop_xvd
echo "blk-sim ($mode): ok"
