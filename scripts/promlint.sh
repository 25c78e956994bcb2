#!/usr/bin/env bash
# Builds tools/promlint (Prometheus' own linter, client_golang testutil/promlint:
# what `promtool check metrics` runs) with the machine's Go and caches it in
#   ${STERLET_CACHE:-~/.cache/sterlet}/tools/promlint-<hash of go.mod/go.sum/main.go>/promlint
# and prints that path. Much lighter than building promtool itself (which
# pulls every service-discovery SDK) or Debian's prometheus package (a daemon).
set -euo pipefail
src="$(cd "$(dirname "$0")/../tools/promlint" && pwd)"
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
dir="${STERLET_CACHE:-$HOME/.cache/sterlet}/tools/promlint-$key"
bin="$dir/promlint"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then export PATH="$PATH:/usr/local/go/bin"; fi
if ! command -v go >/dev/null 2>&1; then
  echo "promlint.sh: PROMLINT_NO_GO: no 'go' on PATH and none at /usr/local/go/bin/go; install Go >= 1.23" >&2
  exit 1
fi
mkdir -p "$dir"
exec 8>"$dir/.lock"
flock 8 # one builder at a time; the others find it built
if [[ ! -x "$bin" ]]; then
  echo "promlint: building (first time about a minute)…" >&2
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$bin.tmp.$$" .)
  mv -f "$bin.tmp.$$" "$bin"
fi
echo "$bin"
