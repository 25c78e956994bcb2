#!/usr/bin/env bash
# Builds the pinned Kubernetes test binaries (kube-apiserver,
# kube-controller-manager, kubectl, etcd, helm) from the Go module proxy and
# caches them outside the repository in
#   ${STERLET_CACHE:-~/.cache/sterlet}/testbin/<tag>/
# No source or binary of those projects ever lands in the repository: the Go
# builds run in throwaway wrapper modules under a temp directory.
#
#   scripts/testbin.sh          build what is missing (idempotent, quick when cached)
#   scripts/testbin.sh --dir    print the cache directory (builds nothing)
#   scripts/testbin.sh --check  exit 0 when every binary is cached, 1 when a build is due
#   scripts/testbin.sh --kube-proxy  also build kube-proxy (same pinned Kubernetes
#                               module, its own binary in the same cache directory,
#                               so the others are not rebuilt)
#   scripts/testbin.sh --go     print the Go >= 1.26 it builds with (bootstrapping it if needed)
#
# Go: $STERLET_GO if set, else the first of `go` on PATH and
# /usr/local/go/bin/go that reports go1.26 or newer (`go env GOVERSION`). When there is only an older
# one (Debian 12's golang-go is 1.19, which `make setup` installs), it fetches
# the pinned toolchain go$GO_VERSION as the Go module golang.org/toolchain
# from the module proxy (what GOTOOLCHAIN does in Go >= 1.21) into
# ${STERLET_CACHE:-~/.cache/sterlet}/go.
#
# Versions are pinned so the cache key is stable; bump them together (check the
# newest patch with `go list -m -versions k8s.io/kubernetes`).
set -euo pipefail
# shellcheck source=lib/cache-build.sh
source "$(dirname "$0")/lib/cache-build.sh"

K8S_VERSION="${STERLET_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${STERLET_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${STERLET_HELM_VERSION:-v4.3.1}"
GO_VERSION="${STERLET_GO_VERSION:-1.26.8}"

tag="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
cache="${STERLET_CACHE:-$HOME/.cache/sterlet}"
dir="$cache/testbin/$tag"

if [[ "${1:-}" == "--dir" ]]; then
  echo "$dir"
  exit 0
fi

want_proxy=0
[[ "${1:-}" == "--kube-proxy" ]] && want_proxy=1

have_all() {
  local b
  for b in kube-apiserver kube-controller-manager kubectl etcd helm; do [[ -x "$dir/$b" ]] || return 1; done
  ((want_proxy == 0)) || [[ -x "$dir/kube-proxy" ]]
}

# Exit 0 when the go binary $1 is Go 1.26 or newer.
go_new_enough() {
  local v major minor
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
  v="${v#go}"
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%[!0-9]*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > 1 || (major == 1 && minor >= 26)))
}

# Prints the go to build with, fetching the pinned toolchain with an older go.
find_go() {
  local c old="" arch mod tc candidates
  # $STERLET_GO alone when set: that go, or the toolchain fetched with it.
  if [[ -n "${STERLET_GO:-}" ]]; then candidates=("$STERLET_GO"); else candidates=("$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go); fi
  for c in "${candidates[@]}"; do
    [[ -n "$c" && -x "$c" ]] || continue
    if go_new_enough "$c"; then echo "$c"; return 0; fi
    [[ -n "$old" ]] || old="$c"
  done
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  mod="$cache/go/mod"
  tc="$mod/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
  if [[ -x "$tc/bin/go" ]] && go_new_enough "$tc/bin/go"; then echo "$tc/bin/go"; return 0; fi
  if [[ -z "$old" ]]; then
    cat >&2 <<EOF
testbin.sh: TESTBIN_NO_GO: cannot build the Kubernetes test binaries.
  why: no 'go' on PATH, in \$STERLET_GO or at /usr/local/go/bin/go; the Kubernetes $K8S_VERSION module needs Go >= 1.26.
  check: go env GOVERSION   (must print go1.26 or newer)
  fix: make setup (installs Debian's golang-go, from which Go $GO_VERSION is fetched), or install Go >= 1.26,
       or put prebuilt kube-apiserver, kube-controller-manager, kubectl, etcd and helm in $dir.
EOF
    return 1
  fi
  echo "testbin: $old is $(GOTOOLCHAIN=local "$old" env GOVERSION 2>/dev/null || echo 'of unknown version'), older than 1.26: fetching Go $GO_VERSION (the Go module golang.org/toolchain, about 70 MB) into $cache/go…" >&2
  mkdir -p "$mod"
  GOTOOLCHAIN=local GOMODCACHE="$mod" GOPATH="$cache/go/path" GOFLAGS=-modcacherw GO111MODULE=on \
    "$old" mod download "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch" >&2 || {
    echo "testbin.sh: TESTBIN_GO_FETCH: $old could not download golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch; fix: check access to the Go module proxy (GOPROXY), or install Go >= 1.26" >&2
    return 1
  }
  # Module zips carry no exec bits; the go command restores them the same way.
  chmod a+x "$tc"/bin/* "$tc"/pkg/tool/*/*
  go_new_enough "$tc/bin/go" || { echo "testbin.sh: TESTBIN_GO_FETCH: $tc/bin/go does not run" >&2; return 1; }
  echo "$tc/bin/go"
}

if [[ "${1:-}" == "--check" ]]; then
  have_all
  exit
fi
if [[ "${1:-}" == "--go" ]]; then
  find_go
  exit
fi
if have_all; then exit 0; fi
go="$(find_go)" || exit 1
# The chosen toolchain, never a switch to another one behind our back.
export GOTOOLCHAIN=local

export CGO_ENABLED=0 GOFLAGS=-mod=mod
lock_cache_dir testbin "$dir"
if have_all; then exit 0; fi
make_work_dir testbin "$dir"

say() { echo "testbin: $*" >&2; }

# Go's own output (hundreds of "go: downloading" lines on a cold cache) goes
# to a log file; the terminal gets one estimate and one line per binary.
log="$cache/testbin/$tag.build.log"
: >"$log"
missing=()
for b in kube-apiserver kubectl kube-controller-manager etcd helm; do [[ -x "$dir/$b" ]] || missing+=("$b"); done
if ((want_proxy == 1)) && [[ ! -x "$dir/kube-proxy" ]]; then missing+=(kube-proxy); fi
total=${#missing[@]}
done_count=0
say "building ${missing[*]} with $("$go" env GOVERSION): once, then cached in $dir."
say "a cold build takes about 25 minutes on 2 cores (kube-apiserver alone ~10); Go's download and compile output: $log"

# Go output to the log; on failure its last lines and the log's path.
quiet() { # what cmd...
  local what="$1"
  shift
  "$@" 2>>"$log" || {
    say "TESTBIN_BUILD_FAILED: $what failed; last lines of $log:"
    tail -n 20 "$log" >&2
    exit 1
  }
}

# Builds a package with `go build` into a temp name, then renames it into place,
# so an interrupted build never leaves a half-written binary in the cache.
# Args: module-dir name package [ldflags]
build() {
  local moddir="$1" name="$2" pkg="$3" ldflags="${4:-}" tmp start
  [[ -x "$dir/$name" ]] && return 0
  tmp="$dir/.$name.tmp.$$"
  start=$SECONDS
  done_count=$((done_count + 1))
  say "[$done_count/$total] building $name…"
  echo "=== go build $pkg" >>"$log"
  quiet "building $name" bash -c 'cd "$1" && shift && exec "$@"' _ "$moddir" "$go" build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg"
  mv -f "$tmp" "$dir/$name"
  say "[$done_count/$total] built $name in $((SECONDS - start)) s"
}

# Writes a wrapper go.mod. Args: dir module-to-require version [extra lines]
wrapper() {
  local d="$1" req="$2" ver="$3" extra="${4:-}"
  mkdir -p "$d"
  printf 'module sterlet.local/testbin\n\ngo 1.26.0\n\nrequire %s %s\n%s\n' "$req" "$ver" "$extra" >"$d/go.mod"
  printf 'package testbin\n' >"$d/doc.go"
}

# --- kube-apiserver + kubectl ------------------------------------------------
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local
# ./staging paths, so `go install` refuses it. The wrapper replaces each one
# with its published v0.<minor>.<patch> release instead, derived from the
# go.mod of that exact Kubernetes version.
if [[ ! -x "$dir/kube-apiserver" || ! -x "$dir/kubectl" || ! -x "$dir/kube-controller-manager" ]] ||
  { ((want_proxy == 1)) && [[ ! -x "$dir/kube-proxy" ]]; }; then
  say "fetching the k8s.io/kubernetes $K8S_VERSION module list…"
  gomod="$(cd "$work" && "$go" mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>>"$log" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [[ -f "$gomod" ]] || { say "TESTBIN_K8S_MOD: cannot download the go.mod of k8s.io/kubernetes@$K8S_VERSION (see $log)"; tail -n 20 "$log" >&2; exit 1; }
  staging_ver="v0.${K8S_VERSION#v1.}"
  replaces="$(awk -v v="$staging_ver" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $1, $1, v }' "$gomod")"
  # Modules in the staging list that were never published (sample plugins)
  # are not required by kube-apiserver or kubectl; drop their replaces.
  replaces="$(grep -v 'k8s.io/sample-cli-plugin ' <<<"$replaces")"
  godebug="$(grep -E '^godebug ' "$gomod" || true)"
  wrapper "$work/k8s" k8s.io/kubernetes "$K8S_VERSION" "$replaces
$godebug"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  vflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    vflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    vflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  build "$work/k8s" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$vflags"
  build "$work/k8s" kubectl k8s.io/kubernetes/cmd/kubectl "$vflags"
  build "$work/k8s" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$vflags"
  # kube-proxy for the Service e2e test (nftables mode), only when asked for.
  if ((want_proxy == 1)); then build "$work/k8s" kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$vflags"; fi
fi

# --- etcd --------------------------------------------------------------------
# The etcd binary's main package is the server module's root. That module
# replaces its sibling modules with ../ paths; a wrapper that just requires it
# resolves them to the published versions of the same release.
if [[ ! -x "$dir/etcd" ]]; then
  wrapper "$work/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  build "$work/etcd" etcd go.etcd.io/etcd/server/v3 \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
fi

# --- helm ----------------------------------------------------------------------
# Helm 4 has no replace directives; it reads the Kubernetes version it reports
# from its client-go dependency, so only its own version needs setting.
if [[ ! -x "$dir/helm" ]]; then
  wrapper "$work/helm" helm.sh/helm/v4 "$HELM_VERSION"
  build "$work/helm" helm helm.sh/helm/v4/cmd/helm \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
fi

have_all || { say "TESTBIN_INCOMPLETE: some binaries are missing from $dir"; exit 1; }
say "ready in $dir (build log: $log)"
