#!/usr/bin/env bash
# The control socket: xen-vhostctl shows a live guest's device, queues,
# back-end state and counters, as text and as JSON; a bad request is refused.
set -euo pipefail
XVD=$1
SIMGUEST=$2
CTL=$3
MAN=${4:-}
. "$(dirname "$0")/lib.sh"

if [ -n "$MAN" ]; then
	for opt in $("$CTL" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "Fl \\\\-${opt#--}" "$MAN" ||
			fail "xen-vhostctl --help option $opt is not in $(basename "$MAN")"
	done
fi

img=$xvd_tmp/disk.img
"$SIMGUEST" pattern --seed 1 --offset 0 --len $((256 << 20)) >"$img"
start_qsd_blk "$img" "$xvd_tmp/blk.sock0" "$xvd_tmp/qsd.log"
start_xvd "$xvd_tmp/xvd.log" --socket-path "$xvd_tmp" --sim "$xvd_tmp/sim.sock" \
	--control "$xvd_tmp/ctl.sock"
wait_socket "$xvd_tmp/ctl.sock"
"$CTL" -s "$xvd_tmp/ctl.sock" | grep -qx 'no guests' || fail "idle status"

"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 9 --vcpus 2 --depth 4 \
	--write-lba 0 --write-sectors $((200 * 2048)) --write-seed 2 \
	>"$xvd_tmp/guest.out" 2>&1 &
guest=$!
xvd_pids+=("$guest")
wait_log "$xvd_tmp/xvd.log" 'dom9 blk0: driver ready'
"$CTL" -s "$xvd_tmp/ctl.sock" status >"$xvd_tmp/status.txt"
cat "$xvd_tmp/status.txt"
grep -q '^dom9: 2 vCPU(s) via sim' "$xvd_tmp/status.txt" || fail "no guest line"
grep -q 'dom9 blk0: blk at 0x2000000 SPI 33, back-end connected' \
	"$xvd_tmp/status.txt" || fail "no device line"
grep -q 'queue 0: 128 entries, ready, started' "$xvd_tmp/status.txt" ||
	fail "no queue line"
"$CTL" -s "$xvd_tmp/ctl.sock" --json >"$xvd_tmp/status.json"
python3 - "$xvd_tmp/status.json" <<'PY' || fail "bad JSON status"
import json, sys
s = json.load(open(sys.argv[1]))
g = s["guests"][0]
d = g["devices"][0]
assert g["domid"] == 9 and g["vcpus"] == 2 and g["ioreqs"] > 0, g
assert d["type"] == "blk" and d["backend"] == "connected", d
assert d["memory"] == "zero-copy" and d["irq"] == 33, d
assert d["counters"]["kicks"] > 0 and d["counters"]["errors"] == 0, d
assert d["queues"][0]["ready"] and d["queues"][0]["num"] == 128, d
print("ctl: JSON ok: %d kicks, %d interrupts so far" %
      (d["counters"]["kicks"], d["counters"]["interrupts"]))
PY
python3 - "$xvd_tmp/ctl.sock" <<'PY' || fail "bad request not refused"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"reboot everything\n")
r = s.makefile().read()
assert r == "error: unknown request\n", r
PY
wait "$guest" || { cat "$xvd_tmp/guest.out"; fail "guest failed"; }
wait_log "$xvd_tmp/xvd.log" 'dom9: released'
"$CTL" -s "$xvd_tmp/ctl.sock" | grep -qx 'no guests' || fail "status after exit"
stop_xvd
echo "ctl-sim: ok"
