#!/usr/bin/env bash
# Builds the pinned libbpf release into build/libbpf (shared library + headers).
#
# The source is Debian's orig tarball of one libbpf release, fetched from the
# Debian source archive the machine is already configured for, verified by
# sha256 and cached outside the repository. No libbpf source lives in git.
set -euo pipefail

LIBBPF_VERSION=1.5.0
LIBBPF_SHA256=53492aff6dd47e4da04ef5e672d753b9743848bdb38e9d90eafbe190b7983c44
LIBBPF_SUITE=trixie # the Debian suite whose source archive carries this release

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${STERLET_CACHE:-$HOME/.cache/sterlet}/libbpf"
out="$root/build/libbpf"
tarball="$cache/libbpf_${LIBBPF_VERSION}.orig.tar.gz"

if [[ -f "$out/.version" && "$(cat "$out/.version")" == "$LIBBPF_VERSION-$LIBBPF_SHA256" ]]; then
  exit 0
fi

verify() { echo "$LIBBPF_SHA256  $1" | sha256sum --check --quiet 2>/dev/null; }

# The archive mirror this machine already uses for Debian packages.
debian_mirror() {
  local uri
  uri="$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -oE '[a-z]+://[^ ]+' | head -n1 || true)"
  [[ -n "$uri" ]] || { echo "libbpf.sh: no Debian archive found in /etc/apt sources; put $tarball in place by hand" >&2; exit 1; }
  echo "$uri"
}

fetch() {
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/lists/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $LIBBPF_SUITE main" >"$work/sources.list"
  local apt=(apt-get -qq -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  "${apt[@]}" update
  (cd "$work" && "${apt[@]}" source --download-only "libbpf=${LIBBPF_VERSION}-*" >/dev/null 2>&1 ||
    "${apt[@]}" source --download-only libbpf >/dev/null)
  mkdir -p "$cache"
  cp "$work/libbpf_${LIBBPF_VERSION}.orig.tar.gz" "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
}

if [[ ! -f "$tarball" ]] || ! verify "$tarball"; then
  echo "libbpf.sh: fetching libbpf $LIBBPF_VERSION source from the Debian archive" >&2
  fetch
fi
verify "$tarball" || { echo "libbpf.sh: sha256 mismatch for $tarball (want $LIBBPF_SHA256)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src="$(find "$work" -maxdepth 2 -type d -name src | head -n1)"
rm -rf "$out"
make -s -C "$src" -j"$(nproc)" BUILD_STATIC_ONLY= OBJDIR="$work/obj" DESTDIR="$out" \
  PREFIX=/ LIBDIR=/lib INCLUDEDIR=/include UAPIDIR=/include install install_uapi_headers >/dev/null
echo "$LIBBPF_VERSION-$LIBBPF_SHA256" >"$out/.version"
echo "libbpf.sh: built libbpf $LIBBPF_VERSION into $out" >&2
