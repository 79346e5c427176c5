#!/usr/bin/env bash
# The configuration file and the service glue: -n prints the effective
# settings; a per-guest section picks the socket name and the memory mode;
# READY=1 reaches $NOTIFY_SOCKET; every --help option is in the man page.
set -euo pipefail
XVD=$1
SIMGUEST=$2
MAN=$3
. "$(dirname "$0")/lib.sh"

for opt in $("$XVD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -- "Fl \\\\-${opt#--}\|Fl ${opt#--}" "$MAN" ||
		fail "--help option $opt is not in $(basename "$MAN")"
done

cat >"$xvd_tmp/xvd.conf" <<CONF
socket-dir = "$xvd_tmp"
connect-timeout = 4000
[guest 12 blk]
socket = "disk-%d.sock"
memory = shadow
CONF
"$XVD" -n -c "$xvd_tmp/xvd.conf" >"$xvd_tmp/n.out"
grep -qx 'connect-timeout = 4000' "$xvd_tmp/n.out" || fail "-n: connect-timeout"
grep -qx '\[guest 12 blk\]' "$xvd_tmp/n.out" || fail "-n: guest section"
echo 'connect-timeout = soon' >"$xvd_tmp/bad.conf"
if "$XVD" -n -c "$xvd_tmp/bad.conf" 2>"$xvd_tmp/bad.err"; then
	fail "-n accepted a bad file"
fi
grep -q 'bad.conf:1:' "$xvd_tmp/bad.err" || fail "no FILE:LINE in the error"

img=$xvd_tmp/disk.img
"$SIMGUEST" pattern --seed 4 --offset 0 --len $((4 << 20)) >"$img"
# dom12's blk socket comes from the pattern in its section.
start_qsd_blk "$img" "$xvd_tmp/disk-12.sock" "$xvd_tmp/qsd.log"
python3 - "$xvd_tmp/notify.sock" >"$xvd_tmp/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
print(s.recv(256).decode(), flush=True)
PY
xvd_pids+=($!)
notify_pid=$!
wait_socket "$xvd_tmp/notify.sock"
NOTIFY_SOCKET=$xvd_tmp/notify.sock start_xvd "$xvd_tmp/xvd.log" \
	-c "$xvd_tmp/xvd.conf" --sim "$xvd_tmp/sim.sock" -v
wait "$notify_pid" || fail "no sd_notify message"
grep -qx 'READY=1' "$xvd_tmp/notify.out" || fail "not READY=1: $(cat "$xvd_tmp/notify.out")"
wait_socket "$xvd_tmp/sim.sock"
"$SIMGUEST" blk --connect "$xvd_tmp/sim.sock" --domid 12 --vcpus 1 \
	--write-lba 8 --write-sectors 16 --write-seed 6 >/dev/null ||
	fail "guest failed"
same_bytes "$img" $((8 * 512)) $((16 * 512)) 6
grep -q 'dom12 blk0: driver ready.*shadow virtqueues' "$xvd_tmp/xvd.log" ||
	fail "the guest section's memory = shadow was not used"
stop_xvd
echo "config-sim: ok"
