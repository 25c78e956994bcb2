#!/usr/bin/env bash
# Builds the balancer object of another git commit (its own bpf/ sources), e.g.
# to run today's fixtures against an older build (STERLET_FIXTURE_OBJECT) or to
# test the upgrade from an older pinned layout. Usage: scripts/bpf-at.sh REF OUT.o
set -euo pipefail
ref=${1:?usage: scripts/bpf-at.sh REF OUT.o}
out=${2:?usage: scripts/bpf-at.sh REF OUT.o}
root=$(cd "$(dirname "$0")/.." && pwd)
git -C "$root" cat-file -e "$ref^{commit}" 2>/dev/null || {
  echo "bpf-at: commit $ref is not in this clone (a shallow clone? git fetch --unshallow)" >&2
  exit 1
}
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git -C "$root" archive "$ref" bpf | tar -x -C "$src"
mkdir -p "$(dirname "$out")"
clang -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Wno-unused-function \
  -I "$src/bpf/include" -I "$root/build/libbpf/include" -I "/usr/include/$(gcc -dumpmachine)" \
  -c "$src/bpf/balancer.bpf.c" -o "$out"
echo "built $out from $ref"
