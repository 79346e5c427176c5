#!/usr/bin/env bash
# vhost-user server mode with a real back-end that connects as a client:
# DPDK's testpmd (net_vhost PMD, client=1) loops a simulated guest's
# virtio-net frames back (io: as sent; macswap: MACs exchanged) and the guest
# checks every frame byte for byte. xen-vhostd listens on net.sock0 (mode =
# server in its config), replacing a stale socket file, and removes it when
# the device goes.
# 1: testpmd is killed between two phases of one driver session and started
#    again; xen-vhostd accepts its new connection, sets the rings up again and
#    the guest's traffic resumes (it sends while testpmd is down, too).
# 2: a second guest gets the socket again, testpmd forwarding with macswap.
# 3: testpmd is killed and does not come back: the guest gets
#    DEVICE_NEEDS_RESET within the connect timeout.
set -euo pipefail
XVD=$1
SIMGUEST=$2
TESTPMD=${TESTPMD:-dpdk-testpmd}
shift 2
. "$(dirname "$0")/lib.sh"

sock=$xvd_tmp/net.sock0
prefix=xvd-net-$$
frames=${XVD_NET_FRAMES:-5000}
dpdk_run() {
	# Where EAL keeps the runtime files of --file-prefix.
	if [ "$(id -u)" -eq 0 ]; then echo /var/run/dpdk/$prefix
	else echo "${XDG_RUNTIME_DIR:-/tmp}/dpdk/$prefix"; fi
}
cleanup_net() {
	xvd_cleanup
	rm -rf "$(dpdk_run)"
}
trap cleanup_net EXIT

# testpmd MODE N: testpmd in the background, as a vhost-user client of
# net.sock0 (it retries until the socket is there); no hugepages, no PCI.
# --stats-period keeps it running without a terminal on stdin.
testpmd() {
	"$TESTPMD" --no-huge -m 256 --no-pci --file-prefix=$prefix -l 0-1 \
		--vdev "net_vhost0,iface=$sock,client=1,queues=1" -- \
		--total-num-mbufs=4096 --forward-mode="$1" --port-topology=loop \
		--auto-start --stats-period 600 </dev/null >"$xvd_tmp/testpmd$2.log" 2>&1 &
	testpmd_pid=$!
	xvd_pids+=("$testpmd_pid")
}
kill_testpmd() {
	kill -KILL "$testpmd_pid"
	wait "$testpmd_pid" 2>/dev/null || true
}

cat >"$xvd_tmp/xvd.conf" <<CONF
[device net]
mode = server
CONF
# A stale socket from an earlier run: xen-vhostd must replace it.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$sock"
[ -S "$sock" ] || fail "could not make the stale socket"

testpmd io 1
start_xvd "$xvd_tmp/xvd.log" --config "$xvd_tmp/xvd.conf" --socket-path "$xvd_tmp" \
	--sim "$xvd_tmp/sim.sock" --connect-timeout 5000 -v "$@"
wait_socket "$xvd_tmp/sim.sock"

echo "net-server: guest 1: $frames frames, testpmd killed and restarted, $frames more"
mkfifo "$xvd_tmp/guest1.in"
"$SIMGUEST" net --connect "$xvd_tmp/sim.sock" --domid 5 --frames "$frames" \
	--phases 2 <"$xvd_tmp/guest1.in" >"$xvd_tmp/guest1.log" 2>&1 &
guest=$!
xvd_pids+=("$guest")
exec 7>"$xvd_tmp/guest1.in"
wait_log "$xvd_tmp/xvd.log" 'dom5 net0: listening on'
wait_log "$xvd_tmp/guest1.log" 'phase 1: .* frames looped back' 300
kill_testpmd
wait_log "$xvd_tmp/xvd.log" 'dom5 net0: back-end .* lost'
# The guest sends (probes) while the back-end is gone.
echo go >&7
sleep 0.5
testpmd io 2
rc=0
wait "$guest" || rc=$?
exec 7>&-
cat "$xvd_tmp/guest1.log"
[ $rc -eq 0 ] || fail "guest 1 exited with $rc"
grep -q "phase 2: $frames frames looped back byte-exact" "$xvd_tmp/guest1.log" ||
	fail "guest 1: no second phase"
grep -q 'dom5 net0: back-end .* reconnected, rings resumed' "$xvd_tmp/xvd.log" ||
	fail "no reconnect logged"
grep -E 'dom5 net0: (listening|back-end .* (lost|reconnected))' "$xvd_tmp/xvd.log" |
	sed 's/^/  /'
wait_log "$xvd_tmp/xvd.log" 'dom5: released'
[ ! -e "$sock" ] || fail "$sock left behind after the device went"

echo "net-server: guest 2: macswap, the socket made again"
kill_testpmd
testpmd macswap 3
"$SIMGUEST" net --connect "$xvd_tmp/sim.sock" --domid 6 --frames "$frames" \
	--fwd macswap --window 64 || fail "guest 2 failed"
wait_log "$xvd_tmp/xvd.log" 'dom6: released'

echo "net-server: guest 3: testpmd killed, does not come back"
"$SIMGUEST" net --connect "$xvd_tmp/sim.sock" --domid 7 --frames 1000 \
	--fwd macswap --phases 2 <"$xvd_tmp/guest1.in" >"$xvd_tmp/guest3.log" 2>&1 &
guest=$!
xvd_pids+=("$guest")
exec 7>"$xvd_tmp/guest1.in"
wait_log "$xvd_tmp/guest3.log" 'phase 1: .* frames looped back' 300
kill_testpmd
start=$(date +%s)
echo go >&7
rc=0
wait "$guest" || rc=$?
took=$(($(date +%s) - start))
exec 7>&-
cat "$xvd_tmp/guest3.log"
[ $rc -ne 0 ] || fail "guest 3 finished although its back-end is gone"
grep -q 'device needs reset' "$xvd_tmp/guest3.log" ||
	fail "guest 3 did not see DEVICE_NEEDS_RESET"
grep -q 'dom7 net0: back-end .* did not come back' "$xvd_tmp/xvd.log" ||
	fail "no give-up logged"
[ "$took" -le 10 ] || fail "NEEDS_RESET took ${took}s (connect timeout 5s)"
echo "net-server: guest 3 got NEEDS_RESET after ${took}s"
wait_log "$xvd_tmp/xvd.log" 'dom7: released'
[ ! -e "$sock" ] || fail "$sock left behind after the device went"
stop_xvd
echo "net-server: ok"
