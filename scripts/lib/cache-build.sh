# shellcheck shell=bash
# One builder at a time per cache directory (parallel test runs on a cold
# machine): the others wait on the lock, then find everything cached.

# lock_cache_dir NAME DIR: hold DIR/.lock on fd 8 until the script exits.
lock_cache_dir() {
  mkdir -p "$2"
  exec 8>"$2/.lock"
  if ! flock -n 8; then
    echo "$1: waiting for another $1.sh that is building into $2…" >&2
    flock 8
  fi
}

# make_work_dir NAME DIR: a scratch directory in $work, removed on exit with
# this process's half-written files in DIR.
make_work_dir() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/sterlet-$1.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the paths are fixed from here on
  trap "rm -rf '$work' '$2'/.*.tmp.$$ 2>/dev/null || true" EXIT
}
