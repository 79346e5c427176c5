# shellcheck shell=bash
# Helpers of bench/run and bench/profile: the release build, processes
# started here (killed by pid at exit), bounded waits. Needs $root, $build;
# sets $xvd and $bench (the binaries).
# shellcheck disable=SC2154,SC2034

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# --- build ---------------------------------------------------------------

build_all() {
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" "$root" --buildtype=release -Db_sanitize=none \
			-Db_ndebug=true -Dtests=true >/dev/null ||
			die "meson setup $build failed"
	else
		# Whatever it was set up with, measure a release build.
		meson configure "$build" -Dbuildtype=release -Db_sanitize=none \
			-Db_ndebug=true -Dtests=true >/dev/null
	fi
	ninja -C "$build" >/dev/null || die "build failed (ninja -C $build)"
	xvd=$build/xen-vhostd
	bench=$build/bench/xvd-bench
	if [ ! -x "$bench" ]; then
		# Until the root meson.build has subdir('bench'): the same
		# sources as bench/meson.build, compiled here.
		echo "$(basename "$0"): no subdir('bench') in meson.build; compiling xvd-bench directly" >&2
		bench=$build/xvd-bench-standalone
		cc -std=gnu11 -O2 -D_GNU_SOURCE -DNDEBUG -Wall \
			-I"$root/include" -I"$root/src" -I"$root/tests/guest" \
			"$root"/bench/xvd-bench.c "$root"/bench/direct.c \
			"$root"/src/vhost/vhu_client.c "$root"/src/vhost/vhu_msg.c \
			"$root"/src/log.c "$root"/src/util.c \
			"$build"/tests/guest/libsimguest.a -lm -o "$bench" ||
			die "cannot compile xvd-bench"
	fi
}

# --- processes -----------------------------------------------------------

pids=()
tmp=
img=
# Only what this script started, by pid.
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "$img" ] && rm -f "$img"
	[ -n "$tmp" ] && rm -rf "$tmp"
	return 0
}
trap cleanup EXIT

wait_socket() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	die "socket $1 did not appear"
}

# wait_log FILE REGEX: the daemon released a guest (bounded).
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	die "no '$2' in $1"
}


