#!/usr/bin/env bash
# Installs what building and testing Sterlet needs on a Debian 12 host: system
# packages, bpffs, and the npm dependencies (which bring Node 24). Idempotent
# and quick when everything is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# gcc + libc6-dev: the Makefile asks `gcc -dumpmachine` for the include path and
# libbpf builds with them; npm: `npm ci` below (it brings the pinned Node 24);
# golang-go: Debian's Go 1.19, used by testbin.sh to fetch the pinned Go 1.26
# toolchain module where no newer Go is installed (installed even beside one:
# test/k8s/testbin-go.test.ts proves that bootstrap with it); bird2: the router of the BGP
# tests; openssl: cluster.sh keys; python3: a test holds a port bound but not
# listening; util-linux: flock, setsid; nftables: nft, which the kube-proxy
# (nftables mode) of the Service test runs and bench-pps loads its rule set
# with; tcpdump: the sterlet dump tests read its pcap back; xdp-tools: the
# --xdp-chain test loads its filter with xdp-loader, as an operator would.
packages=(clang llvm bpftool gcc libc6-dev libelf-dev zlib1g-dev pkg-config make iproute2 ethtool iputils-ping
  procps curl ca-certificates lua5.1 lua-cjson npm golang-go openssl python3 util-linux nftables bird2 tcpdump xdp-tools)
# A package whose command the host already has from elsewhere is not needed:
# npm ships inside other Node builds (whose nodejs package conflicts with
# Debian's npm).
provided_by() {
  case "$1" in
    npm) command -v npm ;;
    *) return 1 ;;
  esac
}
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
  provided_by "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

# The fuzz suite's scapy oracle (a pinned venv in ~/.cache/sterlet).
"$root/scripts/scapy.sh" >/dev/null

# npm ci only when the lockfile changed since the last install.
stamp="$root/node_modules/.sterlet-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$root/package-lock.json" "$stamp"; then
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$root/package-lock.json" "$stamp"
fi
