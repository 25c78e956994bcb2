#!/usr/bin/env bash
# Builds the pinned GoBGP speaker (gobgpd, and the gobgp CLI for debugging)
# from the Go module proxy and caches it, together with the module's .proto
# files, outside the repository in
#   ${STERLET_CACHE:-~/.cache/sterlet}/gobgp/<version>/{gobgpd,gobgp,proto/}
# Its own cache directory, so the Kubernetes test binaries (scripts/testbin.sh)
# are unaffected. The module download is verified against go.sum / the Go
# checksum database by the go command; nothing of GoBGP lands in git.
#
#   scripts/gobgp.sh          build what is missing (idempotent, quick when cached)
#   scripts/gobgp.sh --dir    print the cache directory (builds nothing)
#
# Bump the version with `go list -m -versions github.com/osrg/gobgp/v3`; the
# agent's adapter (src/agent/announce/gobgp.ts) speaks the v3 API.
set -euo pipefail
# shellcheck source=lib/cache-build.sh
source "$(dirname "$0")/lib/cache-build.sh"

GOBGP_VERSION="${STERLET_GOBGP_VERSION:-v3.37.0}"
module=github.com/osrg/gobgp/v3
dir="${STERLET_CACHE:-$HOME/.cache/sterlet}/gobgp/$GOBGP_VERSION"

if [[ "${1:-}" == "--dir" ]]; then
  echo "$dir"
  exit 0
fi

have_all() {
  [[ -x "$dir/gobgpd" && -x "$dir/gobgp" && -f "$dir/proto/gobgp.proto" && -f "$dir/proto/attribute.proto" ]]
}
if have_all; then exit 0; fi

# The same Go as the Kubernetes test binaries (testbin.sh finds Go >= 1.26, or
# fetches the pinned toolchain with an older one such as Debian's golang-go).
go="$("$(dirname "$0")/testbin.sh" --go)" || { echo "gobgp.sh: GOBGP_NO_GO: no Go to build gobgpd $GOBGP_VERSION with (see the testbin.sh message above)" >&2; exit 1; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod
lock_cache_dir gobgp "$dir"
if have_all; then exit 0; fi
make_work_dir gobgp "$dir"
say() { echo "gobgp: $*" >&2; }

# A throwaway wrapper module requires the pinned version; `go mod download`
# verifies the zip's hash against the checksum database before extracting it.
mkdir -p "$work/m"
printf 'module sterlet.local/gobgp\n\ngo 1.22\n\nrequire %s %s\n' "$module" "$GOBGP_VERSION" >"$work/m/go.mod"
printf 'package gobgp\n' >"$work/m/doc.go"
src="$(cd "$work/m" && "$go" mod download -json "$module@$GOBGP_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[[ -d "$src/api" ]] || { say "GOBGP_MOD: cannot download $module@$GOBGP_VERSION"; exit 1; }

# The protocol definitions the agent loads at run time (@grpc/proto-loader).
mkdir -p "$dir/.proto.tmp.$$"
cp "$src"/api/*.proto "$dir/.proto.tmp.$$/"
chmod u+w "$dir/.proto.tmp.$$"/*.proto
rm -rf "$dir/proto"
mv "$dir/.proto.tmp.$$" "$dir/proto"

for name in gobgpd gobgp; do
  [[ -x "$dir/$name" ]] && continue
  say "building $name $GOBGP_VERSION (first time takes a few minutes)…"
  start=$SECONDS
  tmp="$dir/.$name.tmp.$$"
  (cd "$work/m" && "$go" build -trimpath -ldflags "-s -w" -o "$tmp" "$module/cmd/$name")
  mv -f "$tmp" "$dir/$name"
  say "built $name in $((SECONDS - start)) s"
done

have_all || { say "GOBGP_INCOMPLETE: something is missing from $dir"; exit 1; }
say "ready in $dir"
