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
#
# Versions are pinned so the cache key is stable; bump them together (check the
# newest patch with `go list -m -versions k8s.io/kubernetes`).
set -euo pipefail

K8S_VERSION="${STERLET_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${STERLET_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${STERLET_HELM_VERSION:-v4.3.1}"

tag="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
dir="${STERLET_CACHE:-$HOME/.cache/sterlet}/testbin/$tag"

if [[ "${1:-}" == "--dir" ]]; then
  echo "$dir"
  exit 0
fi

have_all() {
  local b
  for b in kube-apiserver kube-controller-manager kubectl etcd helm; do [[ -x "$dir/$b" ]] || return 1; done
}
if have_all; then exit 0; fi

# Go: the machine's toolchain only.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<EOF
testbin.sh: TESTBIN_NO_GO: cannot build the Kubernetes test binaries.
  why: no 'go' on PATH and none at /usr/local/go/bin/go.
  fix: install Go >= 1.26 (the Kubernetes $K8S_VERSION module requires it), or put
       prebuilt kube-apiserver, kube-controller-manager, kubectl, etcd and helm in $dir.
EOF
  exit 1
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$dir"
# One builder at a time (parallel test runs on a cold machine): the others
# wait here, then find everything cached.
exec 8>"$dir/.lock"
if ! flock -n 8; then
  echo "testbin: waiting for another testbin.sh that is building into $dir…" >&2
  flock 8
fi
if have_all; then exit 0; fi
work="$(mktemp -d "${TMPDIR:-/tmp}/sterlet-testbin.XXXXXX")"
trap 'rm -rf "$work" "$dir"/.*.tmp.$$ 2>/dev/null || true' EXIT

say() { echo "testbin: $*" >&2; }

# Builds a package with `go build` into a temp name, then renames it into place,
# so an interrupted build never leaves a half-written binary in the cache.
# Args: module-dir name package [ldflags]
build() {
  local moddir="$1" name="$2" pkg="$3" ldflags="${4:-}" tmp start
  [[ -x "$dir/$name" ]] && return 0
  tmp="$dir/.$name.tmp.$$"
  start=$SECONDS
  (cd "$moddir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg")
  mv -f "$tmp" "$dir/$name"
  say "built $name in $((SECONDS - start)) s"
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
if [[ ! -x "$dir/kube-apiserver" || ! -x "$dir/kubectl" || ! -x "$dir/kube-controller-manager" ]]; then
  say "building kube-apiserver, kubectl and kube-controller-manager $K8S_VERSION (first time takes several minutes)…"
  gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [[ -f "$gomod" ]] || { say "TESTBIN_K8S_MOD: cannot download the go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
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
fi

# --- etcd --------------------------------------------------------------------
# The etcd binary's main package is the server module's root. That module
# replaces its sibling modules with ../ paths; a wrapper that just requires it
# resolves them to the published versions of the same release.
if [[ ! -x "$dir/etcd" ]]; then
  say "building etcd $ETCD_VERSION (first time takes a few minutes)…"
  wrapper "$work/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  build "$work/etcd" etcd go.etcd.io/etcd/server/v3 \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
fi

# --- helm ----------------------------------------------------------------------
# Helm 4 has no replace directives; it reads the Kubernetes version it reports
# from its client-go dependency, so only its own version needs setting.
if [[ ! -x "$dir/helm" ]]; then
  say "building helm $HELM_VERSION (first time takes a few minutes)…"
  wrapper "$work/helm" helm.sh/helm/v4 "$HELM_VERSION"
  build "$work/helm" helm helm.sh/helm/v4/cmd/helm \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
fi

have_all || { say "TESTBIN_INCOMPLETE: some binaries are missing from $dir"; exit 1; }
say "ready in $dir"
