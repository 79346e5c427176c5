# shellcheck shell=bash
# Helpers for the simulator integration tests: temporary directory, process
# cleanup, bounded waits. Every wait has a limit: a test never hangs.

xvd_tmp=$(mktemp -d /tmp/xvd-test.XXXXXX)
xvd_pids=()

xvd_cleanup() {
	local pid
	for pid in "${xvd_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${xvd_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$xvd_tmp"
}
trap xvd_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$xvd_tmp"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 40 "$f" >&2
	done
	exit 1
}

# wait_socket PATH [TENTHS]: wait until PATH is a socket (default 10 s).
wait_socket() {
	local i
	for ((i = 0; i < ${2:-100}; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	fail "socket $1 did not appear"
}

# start_qsd_blk IMAGE SOCKET LOG: qemu-storage-daemon exporting IMAGE.
start_qsd_blk() {
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=file0,filename=$1" \
		--export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$2,writable=on" \
		>"$3" 2>&1 &
	xvd_pids+=($!)
	wait_socket "$2"
}

# blk_image SECTORS SEED: $img = $xvd_tmp/disk.img filled with pattern SEED.
blk_image() {
	img=$xvd_tmp/disk.img
	"$SIMGUEST" pattern --seed "$2" --offset 0 --len $(($1 * 512)) >"$img"
}

# start_xvd_sim LOG ARGS...: xen-vhostd serving simulated guests on
# $xvd_tmp/sim.sock, back-ends in $xvd_tmp; waits for the socket.
start_xvd_sim() {
	local log=$1
	shift
	start_xvd "$log" --socket-path "$xvd_tmp" --sim "$xvd_tmp/sim.sock" "$@"
	wait_socket "$xvd_tmp/sim.sock"
}

# start_xvd LOG ARGS...: xen-vhostd in the background; sets xvd_pid.
start_xvd() {
	local log=$1
	shift
	"$XVD" "$@" >"$log" 2>&1 &
	xvd_pid=$!
	xvd_pids+=("$xvd_pid")
}

# stop_xvd: SIGTERM, then the exit status must be 0 (sanitizers exit non-zero).
stop_xvd() {
	local rc=0
	kill -TERM "$xvd_pid"
	wait "$xvd_pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "xen-vhostd exited with status $rc"
	grep -q 'ERROR: AddressSanitizer\|runtime error:' "$xvd_tmp"/xvd.log &&
		fail "sanitizer report in xen-vhostd log"
	return 0
}

# same_bytes FILE OFFSET LEN SEED: FILE[OFFSET, OFFSET+LEN) is the pattern.
same_bytes() {
	cmp <(dd if="$1" bs=512 skip=$(($2 / 512)) count=$(($3 / 512)) status=none) \
		<("$SIMGUEST" pattern --seed "$4" --offset "$2" --len "$3") ||
		fail "$1 at $2+$3 does not hold pattern seed $4"
}

# wait_log FILE REGEX [TENTHS]: wait until FILE has a line matching REGEX.
wait_log() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1"
}
