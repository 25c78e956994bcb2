#!/usr/bin/env bash
# The fuzz suite's independent packet oracle (test/bpf/fuzz/oracle.py) runs on
# scapy, pinned, in a venv under ~/.cache/sterlet (never in the repository).
# Idempotent: prints the venv's python path; quick when it is already there.
set -euo pipefail
version=2.8.0
venv="${STERLET_CACHE:-$HOME/.cache/sterlet}/scapy-$version"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import scapy; assert scapy.VERSION == '$version'" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi
python=$(command -v python3 || true)
if [[ -z "$python" ]] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "scapy: installing python3-venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  python=/usr/bin/python3
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "scapy==$version" >&2
echo "$venv/bin/python"
