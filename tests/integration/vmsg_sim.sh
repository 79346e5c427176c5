#!/usr/bin/env bash
# A simulated guest with no MMIO device drives a virtio-blk disk served by
# qemu-storage-daemon through xen-vhostd's virtio-msg socket bus: the Linux
# virtio-msg driver's sequence, writes then reads, a reset with requests in
# flight and re-initialisation, malformed frames. The image file is checked
# byte for byte. Extra arguments go to xen-vhostd (e.g. --memory shadow).
set -euo pipefail
XVD=$1
SIMGUEST=$2
VMSGDRV=$3
shift 3
mode=zero-copy
[ "${1:-}" = "--memory" ] && [ "${2:-}" = shadow ] && mode=shadow
. "$(dirname "$0")/lib.sh"

img=$xvd_tmp/disk.img
sectors=8192
"$SIMGUEST" pattern --seed 9 --offset 0 --len $((sectors * 512)) >"$img"
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"
start_xvd "$xvd_tmp/xvd.log" --socket-path "$xvd_tmp" --sim "$xvd_tmp/sim.sock" \
	-vv --vmsg "socket:$xvd_tmp/vmsg.sock:5:blk" "$@"
wait_socket "$xvd_tmp/sim.sock"
wait_socket "$xvd_tmp/vmsg.sock"

"$VMSGDRV" --sim "$xvd_tmp/sim.sock" --bus "$xvd_tmp/vmsg.sock" --domid 5 \
	--expect-sectors $sectors \
	--write-lba 1024 --write-sectors 256 --write-seed 7 \
	--read-lba 4096 --read-sectors 128 --read-seed 9 \
	--reset-lba 6144 --reset-seed 13 ||
	fail "virtio-msg guest failed"
same_bytes "$img" $((1024 * 512)) $((256 * 512)) 7
same_bytes "$img" 0 $((1024 * 512)) 9
same_bytes "$img" $((1280 * 512)) $(((6144 - 1280) * 512)) 9
same_bytes "$img" $((6144 * 512)) $((128 * 512)) 13
same_bytes "$img" $((6272 * 512)) $(((sectors - 6272) * 512)) 9
wait_log "$xvd_tmp/xvd.log" 'dom5: released'

grep -q 'dom5 blk0: serving virtio-msg device number 1' "$xvd_tmp/xvd.log" ||
	fail "no virtio-msg device for dom5"
# Started again after the reset. qemu-storage-daemon sometimes completes a
# request after GET_VRING_BASE closed its call fd and panics (vu_panic):
# then the back-end is reconnected and the rings resumed instead.
[ "$(grep -c 'dom5 blk0: driver ready\|dom5 blk0: back-end .* reconnected' \
	"$xvd_tmp/xvd.log")" -ge 2 ] ||
	fail "dom5 blk0 was not started again after the reset"
grep -q 'vmsg cli1 dom5: guest: frame dropped' "$xvd_tmp/xvd.log" ||
	fail "malformed bus frames were not logged"
grep -q 'dom5 blk0 queue 200: guest: virtio-msg SET_VQUEUE dropped' \
	"$xvd_tmp/xvd.log" || fail "bad GET_VQUEUE not logged with its queue"

if [ $mode = shadow ]; then
	want='dom5 blk0: driver ready.*shadow virtqueues'
else
	want='dom5 blk0: driver ready.*zero copy'
fi
grep -q "$want" "$xvd_tmp/xvd.log" || fail "dom5 blk0 did not use $mode"

# The domain comes back: a second guest session on the same endpoint.
"$VMSGDRV" --sim "$xvd_tmp/sim.sock" --bus "$xvd_tmp/vmsg.sock" --domid 5 \
	--write-lba 0 --write-sectors 64 --write-seed 21 ||
	fail "second virtio-msg guest failed"
same_bytes "$img" 0 $((64 * 512)) 21
stop_xvd
echo "vmsg-sim ($mode): ok"
