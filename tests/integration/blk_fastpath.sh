#!/usr/bin/env bash
# The kernel fast path (privcmd ioeventfd/irqfd, Linux 6.7+) in the
# simulator: the simulated guest plays a dom0 kernel that has it. With zero
# copy, QueueNotify writes go straight to the back-end's kick eventfd and the
# back-end's call eventfds raise the SPI without xen-vhostd; the data is
# checked in the image. With shadow queues (every kick and call needs the
# copy) and with a kernel without it (the default), the relay stays in
# xen-vhostd and the same I/O works.
set -euo pipefail
XVD=$1
SIMGUEST=$2
shift 2
. "$(dirname "$0")/lib.sh"

blk_image 8192 5
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"

# guest N MEMORY FASTPATH-ARG: run one guest, print its stats line
run() {
	local dom=$1 seed=$((20 + $1))
	shift
	"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid "$dom" --depth 8 \
		--event-idx --indirect "$@" \
		--write-lba 1024 --write-sectors 512 --write-seed $seed \
		--read-lba 4096 --read-sectors 128 --read-seed 5 >"$xvd_tmp/guest$dom.out" ||
		{ cat "$xvd_tmp/guest$dom.out"; fail "guest $dom failed"; }
	same_bytes "$img" $((1024 * 512)) $((512 * 512)) $seed
	wait_log "$xvd_tmp/xvd.log" "dom$dom: released"
	grep 'guest: stats' "$xvd_tmp/guest$dom.out"
}
fast_kicks() { sed -n 's/.*kernel fast path: kicks \([0-9]*\), irqs \([0-9]*\).*/\1/p' "$xvd_tmp/guest$1.out"; }
fast_irqs() { sed -n 's/.*kernel fast path: kicks \([0-9]*\), irqs \([0-9]*\).*/\2/p' "$xvd_tmp/guest$1.out"; }

start_xvd_sim "$xvd_tmp/xvd.log" -vv

echo "zero copy, kernel with the fast path"
run 5 --fast-path
[ "$(fast_kicks 5)" -gt 0 ] || fail "no kick took the ioeventfd"
[ "$(fast_irqs 5)" -gt 0 ] || fail "no interrupt came from an irqfd"
grep -q 'dom5 blk0 queue 0: kernel fast path: ioeventfd irqfd' "$xvd_tmp/xvd.log" ||
	fail "xen-vhostd did not assign the fast path"

echo "zero copy, kernel without it (Debian 12's 6.1)"
run 6
[ "$(fast_kicks 6)" = 0 ] && [ "$(fast_irqs 6)" = 0 ] || fail "fast path used without the kernel's support"
stop_xvd

start_xvd_sim "$xvd_tmp/xvd.log" -vv --memory shadow
echo "shadow queues, kernel with the fast path: not used"
run 7 --fast-path
[ "$(fast_kicks 7)" = 0 ] && [ "$(fast_irqs 7)" = 0 ] || fail "fast path used with shadow queues"
stop_xvd
echo "blk-fastpath: ok"
