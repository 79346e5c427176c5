#!/usr/bin/env bash
# A simulated guest speaks FUSE over virtio-fs to virtiofsd through
# xen-vhostd: creates, writes, reads back a file, makes a directory; the
# shared directory is then checked on the host. Two guests in a row, each
# with its own virtiofsd (it exits when its front-end goes), the second with
# 4 vCPUs, indirect descriptors, event idx and a larger, unaligned file.
set -euo pipefail
# Extra arguments go to xen-vhostd (e.g. --memory shadow).
XVD=$1
SIMGUEST=$2
shift 2
mode=zero-copy
[ "${1:-}" = "--memory" ] && [ "${2:-}" = shadow ] && mode=shadow
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
if [ ! -x "$VIRTIOFSD" ]; then
	echo "SKIP: $VIRTIOFSD not found (qemu-system-common)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"

# chroot: no namespaces needed (containers, CI); we run as root anyway.
sandbox=${VIRTIOFSD_SANDBOX:-chroot}

# start_virtiofsd SHARE SOCKET LOG: virtiofsd serving SHARE; sets vfsd_pid.
start_virtiofsd() {
	rm -f "$2"
	"$VIRTIOFSD" --socket-path="$2" -o source="$1" -o cache=none \
		-o sandbox="$sandbox" >"$3" 2>&1 &
	vfsd_pid=$!
	xvd_pids+=("$vfsd_pid")
	wait_socket "$2"
}

# stop_virtiofsd: it exits by itself once xen-vhostd hangs up; else TERM.
stop_virtiofsd() {
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$vfsd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$vfsd_pid" 2>/dev/null || true
	wait "$vfsd_pid" 2>/dev/null || true
}

# check_share SHARE FILE BYTES SEED DIR: what the guest left on the host.
check_share() {
	[ -f "$1/$2" ] || fail "$1/$2 is not a regular file"
	[ "$(stat -c %s "$1/$2")" -eq "$3" ] ||
		fail "$1/$2 has $(stat -c %s "$1/$2") bytes, expected $3"
	cmp "$1/$2" <("$SIMGUEST" pattern --seed "$4" --offset 0 --len "$3") ||
		fail "$1/$2 does not hold pattern seed $4"
	[ -d "$1/$5" ] || fail "$1/$5 is not a directory"
	[ ! -e "$1/xvd-no-such-file" ] || fail "lookup created a file"
}

mkdir "$xvd_tmp/share1" "$xvd_tmp/share2"
start_virtiofsd "$xvd_tmp/share1" "$xvd_tmp/fs.sock0" "$xvd_tmp/virtiofsd1.log"
start_xvd "$xvd_tmp/xvd.log" --socket-path "$xvd_tmp" --sim "$xvd_tmp/sim.sock" -vv "$@"
wait_socket "$xvd_tmp/sim.sock"

echo "guest 1: 2 vCPUs, 64 KiB in 16 KiB writes"
"$SIMGUEST" fs --connect "$xvd_tmp/sim.sock" --domid 5 --vcpus 2 \
	--file hello.txt --bytes 65536 --seed 3 --chunk 16K --dir sub --expect-tag fs0 ||
	fail "guest 1 failed"
check_share "$xvd_tmp/share1" hello.txt 65536 3 sub
# As xl destroy waits for the back-end: the next guest reuses fs.sock0.
wait_log "$xvd_tmp/xvd.log" 'dom5: released'
stop_virtiofsd

echo "guest 2: 4 vCPUs, indirect, event idx, 1 MiB + 123 in 128 KiB writes"
start_virtiofsd "$xvd_tmp/share2" "$xvd_tmp/fs.sock0" "$xvd_tmp/virtiofsd2.log"
"$SIMGUEST" fs --connect "$xvd_tmp/sim.sock" --domid 6 --vcpus 4 \
	--indirect --event-idx --file data.bin --bytes $((1048576 + 123)) \
	--seed 17 --chunk 128K --dir d --expect-tag fs0 ||
	fail "guest 2 failed"
check_share "$xvd_tmp/share2" data.bin $((1048576 + 123)) 17 d
wait_log "$xvd_tmp/xvd.log" 'dom6: released'
stop_virtiofsd

if [ $mode = shadow ]; then
	grep -q 'dom5 fs0: driver ready.*shadow virtqueues' "$xvd_tmp/xvd.log" ||
		fail "dom5 did not use shadow virtqueues"
else
	grep -q 'dom5 fs0: driver ready.*zero copy' "$xvd_tmp/xvd.log" ||
		fail "dom5 did not use zero copy"
fi
grep -q 'dom6 fs0: driver ready' "$xvd_tmp/xvd.log" || fail "no relay log for dom6"
stop_xvd
echo "fs-sim ($mode): ok"
