# shellcheck shell=bash
# Installs what xen-vhostd needs to build and test, from Debian 12's archive.
# Sourced by scripts/test and scripts/demo. Runs apt-get only for what is missing.

XVD_PACKAGES=(
	gcc clang libclang-rt-14-dev meson ninja-build pkg-config
	libxen-dev libevent-dev libcmocka-dev
	qemu-system-common python3
	# net-server test: dpdk-testpmd (in dpdk-dev) and the net_vhost PMD
	dpdk-dev librte-net-vhost23 librte-mempool-ring23
	# scripts/deb-check: dpkg-buildpackage of debian/
	build-essential debhelper dpkg-dev
)

xvd_install_deps() {
	local missing=()
	for p in "${XVD_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: missing packages and not root: ${missing[*]}" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# xvd_build DIR [meson options...]: configure once, then build.
xvd_build() {
	local dir=$1 log
	shift
	log=$(mktemp)
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$log" 2>&1 || { cat "$log"; rm -f "$log"; return 1; }
	fi
	ninja -C "$dir" >"$log" 2>&1 || { cat "$log"; rm -f "$log"; return 1; }
	rm -f "$log"
}
