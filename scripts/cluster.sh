#!/usr/bin/env bash
# A local Kubernetes control plane (etcd + kube-apiserver, no nodes) for tests
# and for trying Sterlet by hand, in the spirit of controller-runtime's envtest:
# loopback only, static-token admin, RBAC on, ServiceAccount admission off.
# Unlike envtest it also runs kube-controller-manager with only the namespace,
# garbage-collector and clusterrole-aggregation controllers, so deleted
# namespaces really go away, aggregated ClusterRoles fill in, and
# owner references cascade (no scheduler, no kubelet: pods never run).
#
#   scripts/cluster.sh up                start (idempotent: exit 0 when already running)
#   scripts/cluster.sh acquire [PID]     up, and register PID (default: the caller) as a user
#   scripts/cluster.sh release [PID]     unregister PID; stop the cluster when an acquire started
#                                        it and no live user is left (STERLET_KEEP_CLUSTER=1: never)
#   scripts/cluster.sh down              stop everything and delete build/cluster, build/kubeconfig
#   scripts/cluster.sh status            exit 0 when running and ready
#   scripts/cluster.sh env               print `export KUBECONFIG=...` lines for eval
#   scripts/cluster.sh token NS SA [DUR] create ServiceAccount NS/SA if missing, print a token
#
# State lives in build/cluster/ (data, certs, keys, logs, pids, ports);
# the admin kubeconfig is build/kubeconfig ($STERLET_CLUSTER_DIR instead of
# build/: another, independent cluster). Test runs, the demo and anything
# else that shares the cluster use acquire/release, so one finishing never
# stops the cluster under another; a cluster started with plain `up` (make
# cluster-up) is never stopped by a release.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# STERLET_CLUSTER_DIR gives a cluster of its own in another directory (the
# demo uses build/demo-cluster: its controller must not reconcile a test run's objects).
base="${STERLET_CLUSTER_DIR:-$root/build}"
state="$base/cluster"
kubeconfig="$base/kubeconfig"
users="$base/cluster-users" # one file per live acquirer, named by its pid
bin="$("$root/scripts/testbin.sh" --dir)"
ready_timeout="${STERLET_CLUSTER_READY_TIMEOUT:-60}"

say() { echo "cluster: $*" >&2; }
fail() { # code what why fix
  printf 'cluster: %s: %s\n  why: %s\n  fix: %s\n' "$1" "$2" "$3" "$4" >&2
  exit 1
}

# shellcheck source=lib/proc.sh
source "$root/scripts/lib/proc.sh"

# A process recorded in $state/NAME.pid that is still alive: same pid and
# same start time (lib/proc.sh), which cannot race the child's exec and never
# matches a recycled pid. An older cluster.sh's pid file (pid only) is
# checked by cmdline, so its cluster is still found and stopped.
alive() {
  local pidf="$state/$1.pid" pid start
  [[ -f "$pidf" ]] || return 1
  read -r pid start <"$pidf" || true
  if [[ -n "${pid:-}" && -z "${start:-}" ]]; then
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$bin/$1 "
    return
  fi
  proc_alive "$pidf"
}

kctl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

ready() {
  alive etcd && alive kube-apiserver && alive kube-controller-manager && [[ -f "$kubeconfig" ]] &&
    [[ "$(kctl get --raw /readyz --request-timeout=5s 2>/dev/null)" == "ok" ]]
}

port_free() { ! ss -Htan "sport = :$1" | grep -q .; }

# A free loopback port not in the exclusion list: the preferred one if free,
# otherwise a random high one.
pick_port() { # preferred excluded...
  local p="$1" tries=0
  shift
  while ! port_free "$p" || [[ " $* " == *" $p "* ]]; do
    p=$((20000 + RANDOM % 30000))
    tries=$((tries + 1))
    ((tries < 50)) || fail CLUSTER_NO_PORT "no free TCP port found" "50 random ports were all in use" "free some ports"
  done
  echo "$p"
}

# Port choice is host-wide: checkouts (and the demo) each have their own
# build/cluster, and `ss` only sees a port once a server has bound it. One
# lock for the whole host is held from choosing ports until the servers
# listen on them, so two starts woken together never pick the same ones.
port_lock="${STERLET_PORT_LOCK:-/run/lock/sterlet-cluster-ports.lock}"
[[ -w "$(dirname "$port_lock")" ]] || port_lock="${STERLET_CACHE:-$HOME/.cache/sterlet}/cluster-ports.lock"

lock_ports() {
  mkdir -p "$(dirname "$port_lock")"
  exec 7>>"$port_lock"
  flock -w "$ready_timeout" 7 ||
    fail CLUSTER_PORT_LOCK "waited ${ready_timeout} s for the host-wide port lock $port_lock" \
      "another cluster.sh on this host (another checkout or the demo) held it that long" \
      "find it with: fuser -v $port_lock; or raise STERLET_CLUSTER_READY_TIMEOUT"
}
unlock_ports() { exec 7>&-; }

# Waits until NAME listens on PORT; returns 1 when NAME exited first.
wait_listen() { # name port
  local deadline=$((SECONDS + ready_timeout))
  while ((SECONDS < deadline)); do
    ss -Htln "sport = :$2" | grep -q . && return 0
    alive "$1" || return 1
    sleep 0.1
  done
  return 0 # still starting: the readiness loop decides
}

# The port NAME's log says it could not bind, if that is why it exited.
bind_conflict() { # name
  grep -oE '127\.0\.0\.1:[0-9]+: bind: address already in use' "$state/$1.log" 2>/dev/null | head -n1 | cut -d: -f2
}

# Starts a binary detached from this shell (own session, all fds to the log)
# so callers that capture our output do not wait on the server's pipes.
start() { # name args...
  local name="$1"
  shift
  setsid "$bin/$name" "$@" </dev/null >"$state/$name.log" 2>&1 7>&- 9>&- &
  proc_record "$state/$name.pid" $!
}

tail_log() { echo "---- last lines of $state/$1.log ----" >&2; tail -n 25 "$state/$1.log" >&2 || true; }

stop() { # name
  local pid i
  alive "$1" || { rm -f "$state/$1.pid"; return 0; }
  pid="$(proc_pid "$state/$1.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/$1.pid"
}

stop_all() {
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
}

down() {
  stop_all
  rm -rf "$state" "$kubeconfig"
}

# A failed start stops what it started but keeps the logs in $state.
fail_start() { # name code what
  tail_log "$1"
  stop_all
  fail "$2" "$3" "see the log above (all logs are in $state)" "fix the cause, then scripts/cluster.sh up again (it cleans up first)"
}

write_kubeconfig() { # port token
  local tmp="$kubeconfig.tmp.$$"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sterlet-local
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $(base64 -w0 "$state/certs/apiserver.crt")
users:
- name: sterlet-admin
  user:
    token: $2
contexts:
- name: sterlet-local
  context:
    cluster: sterlet-local
    user: sterlet-admin
    namespace: default
current-context: sterlet-local
EOF
  chmod 600 "$tmp"
  mv -f "$tmp" "$kubeconfig"
}

up() {
  # A cluster whose processes are all alive may just be slow (a loaded
  # machine, or another caller's `up` still starting it): give it time.
  local deadline=$((SECONDS + ready_timeout))
  while alive etcd && alive kube-apiserver && alive kube-controller-manager && ((SECONDS < deadline)); do
    if ready; then
      say "already running ($(kctl config view -o jsonpath='{.clusters[0].cluster.server}'))"
      return 0
    fi
    sleep 1
  done
  # Anything half-alive from an earlier run is torn down first.
  down
  "$root/scripts/testbin.sh"
  local start_s=$SECONDS
  mkdir -p "$state/etcd" "$state/certs"
  chmod 700 "$state"

  local token
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # token,user,uid,"group1,group2"
  printf '%s,sterlet-admin,sterlet-admin,"system:masters"\n' "$token" >"$state/tokens.csv"
  openssl genrsa -out "$state/sa.key" 2048 2>/dev/null ||
    fail CLUSTER_SA_KEY "cannot generate the service-account signing key" "openssl genrsa failed" "install openssl (apt-get install openssl)"
  openssl rsa -in "$state/sa.key" -pubout -out "$state/sa.pub" 2>/dev/null

  # A port taken between the check and the bind (by something that is not a
  # cluster.sh) is retried on new ports; the third conflict is reported.
  local attempt rc taken
  avoid_ports=""
  for attempt in 1 2 3; do
    rc=0
    start_servers "$token" || rc=$?
    ((rc == 0)) && break
    ((attempt < 3)) || port_conflict_fail "$rc"
    taken="$(bind_conflict "$(conflict_name "$rc")")"
    avoid_ports+=" $taken"
    say "$(conflict_name "$rc") could not bind port $taken (taken after the free-port check); retrying on other ports"
    stop_all
    rm -rf "$state/etcd" && mkdir -p "$state/etcd"
  done
  wait_ready "$token" "$start_s" "${1:-}"
}

# Returns 0 when etcd and kube-apiserver listen on their ports, 3 when etcd,
# 4 when kube-apiserver could not bind a port; fails on any other exit.
start_servers() { # token
  local etcd_port peer_port api_port
  lock_ports
  # (exit: set -e does not apply in a function called from `||`)
  # shellcheck disable=SC2086 # avoid_ports is a list
  etcd_port="$(pick_port "${STERLET_ETCD_PORT:-23790}" $avoid_ports)" || exit 1
  # shellcheck disable=SC2086
  peer_port="$(pick_port "$((etcd_port + 10))" "$etcd_port" $avoid_ports)" || exit 1
  # shellcheck disable=SC2086
  api_port="$(pick_port "${STERLET_APISERVER_PORT:-26443}" "$etcd_port" "$peer_port" $avoid_ports)" || exit 1
  printf 'etcd=%s\netcd_peer=%s\napiserver=%s\n' "$etcd_port" "$peer_port" "$api_port" >"$state/ports"

  start etcd --name sterlet --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "sterlet=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level warn
  if ! wait_listen etcd "$etcd_port" || ! wait_listen etcd "$peer_port"; then
    unlock_ports
    [[ -n "$(bind_conflict etcd)" ]] && return 3
    fail_start etcd CLUSTER_ETCD_EXITED "etcd exited during start-up"
  fi

  start kube-apiserver \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$state/certs" \
    --token-auth-file "$state/tokens.csv" \
    --authorization-mode RBAC \
    --disable-admission-plugins ServiceAccount \
    --service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112 \
    --service-account-issuer "https://127.0.0.1:$api_port" \
    --service-account-key-file "$state/sa.pub" \
    --service-account-signing-key-file "$state/sa.key" \
    --allow-privileged=true \
    --v 1
  if ! wait_listen kube-apiserver "$api_port"; then
    unlock_ports
    [[ -n "$(bind_conflict kube-apiserver)" ]] && return 4
    fail_start kube-apiserver CLUSTER_APISERVER_EXITED "kube-apiserver exited during start-up"
  fi
  unlock_ports
}

conflict_name() { if (($1 == 3)); then echo etcd; else echo kube-apiserver; fi; }

port_conflict_fail() { # rc
  local name port holder
  name="$(conflict_name "$1")"
  port="$(bind_conflict "$name")"
  holder="$(ss -Htlnp "sport = :$port" 2>/dev/null | grep -oE 'users:\(\("[^"]+",pid=[0-9]+' | head -n1 | sed -E 's/users:\(\("([^"]+)",pid=([0-9]+)/\1 (pid \2)/')"
  tail_log "$name"
  stop_all
  fail CLUSTER_PORT_IN_USE "$name could not bind 127.0.0.1:$port (address already in use), three times on fresh ports" \
    "another process took each port between the free-port check and the bind${holder:+; port $port is held by $holder}" \
    "stop what holds the port, or choose others with STERLET_ETCD_PORT / STERLET_APISERVER_PORT, then scripts/cluster.sh up"
}

# Waits for /readyz ok, then starts the controllers. The apiserver writes its
# self-signed serving certificate (for 127.0.0.1 and localhost) into
# --cert-dir at start; the kubeconfig trusts that bundle.
wait_ready() { # token start_s acquirer
  local wrote=0 api_port deadline=$((SECONDS + ready_timeout))
  api_port="$(sed -n 's/^apiserver=//p' "$state/ports")"
  while ((SECONDS < deadline)); do
    alive etcd || fail_start etcd CLUSTER_ETCD_EXITED "etcd exited during start-up"
    alive kube-apiserver || fail_start kube-apiserver CLUSTER_APISERVER_EXITED "kube-apiserver exited during start-up"
    if ((!wrote)) && [[ -s "$state/certs/apiserver.crt" && -s "$state/certs/apiserver.key" ]]; then
      write_kubeconfig "$api_port" "$1"
      wrote=1
    fi
    if ((wrote)) && [[ "$(kctl get --raw /readyz --request-timeout=5s 2>/dev/null)" == "ok" ]]; then
      start_controllers
      [[ -n "$3" ]] && echo "$3" >"$state/started-by-acquire"
      say "ready in $((SECONDS - $2)) s: https://127.0.0.1:$api_port, kubeconfig $kubeconfig"
      return 0
    fi
    sleep 0.5
  done
  tail_log kube-apiserver
  stop_all
  fail CLUSTER_NOT_READY "kube-apiserver did not report /readyz ok within ${ready_timeout} s" \
    "it was still starting or could not reach etcd (all logs are in $state)" \
    "read the log above; on a slow machine raise STERLET_CLUSTER_READY_TIMEOUT (seconds, default 60)"
}

start_controllers() {
  start kube-controller-manager --kubeconfig "$kubeconfig" \
    --controllers namespace-controller,garbage-collector-controller,clusterrole-aggregation-controller \
    --leader-elect=false --secure-port 0 --v 1 \
    --kube-api-qps 500 --kube-api-burst 1000 --concurrent-namespace-syncs 4
  sleep 0.5
  alive kube-controller-manager || fail_start kube-controller-manager CLUSTER_KCM_EXITED "kube-controller-manager exited at start"

}

acquire() { # pid
  mkdir -p "$users"
  touch "$users/$1"
  up "$1" || { rm -f "$users/$1"; return 1; }
}

release() { # pid
  rm -f "$users/$1"
  local f live=0
  for f in "$users"/*; do
    [[ -e "$f" ]] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then live=$((live + 1)); else rm -f "$f"; fi
  done
  if [[ "${STERLET_KEEP_CLUSTER:-}" == "1" || ! -f "$state/started-by-acquire" ]] || ((live > 0)); then
    return 0
  fi
  down
  say "stopped (the last user released it)"
}

token() { # ns sa [duration]
  local ns="${1:?usage: cluster.sh token NAMESPACE SERVICEACCOUNT [DURATION]}" sa="${2:?usage: cluster.sh token NAMESPACE SERVICEACCOUNT [DURATION]}"
  ready || fail CLUSTER_DOWN "no running cluster" "build/cluster has no ready apiserver" "scripts/cluster.sh up"
  kctl get namespace "$ns" >/dev/null 2>&1 || kctl create namespace "$ns" >/dev/null
  kctl -n "$ns" get serviceaccount "$sa" >/dev/null 2>&1 || kctl -n "$ns" create serviceaccount "$sa" >/dev/null
  kctl -n "$ns" create token "$sa" --duration "${3:-1h}"
}

# Serialise up/down across concurrent callers (several test runs may share the tree).
mkdir -p "$root/build"
exec 9>"$root/build/.cluster.lock"

case "${1:-}" in
up) flock 9 && up ;;
acquire) flock 9 && acquire "${2:-$PPID}" ;;
release) flock 9 && release "${2:-$PPID}" ;;
down) flock 9 && down && say "stopped and removed $state" ;;
status) ready ;;
env)
  echo "export KUBECONFIG='$kubeconfig'"
  echo "export STERLET_KUBECONFIG='$kubeconfig'"
  echo "export PATH='$bin':\"\$PATH\""
  ;;
token) shift && token "$@" ;;
*)
  echo "usage: scripts/cluster.sh up|down|acquire [PID]|release [PID]|status|env|token NS SA [DURATION]" >&2
  exit 2
  ;;
esac
