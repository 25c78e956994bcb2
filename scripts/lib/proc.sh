# shellcheck shell=bash
# Tracking the processes a script starts in the background, by pid file.
# A pid file holds "PID STARTTIME" (field 22 of /proc/PID/stat, in clock
# ticks since boot). The start time is set at fork and survives exec, so
# liveness can be checked at any moment after the fork, also before the
# child has exec'd its binary (its cmdline is still the parent shell's
# then), and a recycled pid never passes for the process we started.

# proc_starttime PID: print the start time of a live (non-zombie) PID.
proc_starttime() {
  local stat rest
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }" # comm may hold spaces and parentheses: cut after the last ')'
  # shellcheck disable=SC2086 # word splitting into fields is the point
  set -- $rest
  [[ "$1" != "Z" && "$1" != "X" && -n "${20:-}" ]] || return 1
  echo "${20}"
}

# proc_record PIDFILE PID: write the pid file (call right after `cmd &`).
proc_record() {
  local start
  start="$(proc_starttime "$2")" || start=dead
  echo "$2 $start" >"$1"
}

# proc_alive PIDFILE: exit 0 when the recorded process is still running.
proc_alive() {
  local pid start now
  [[ -f "$1" ]] || return 1
  read -r pid start <"$1" || [[ -n "${pid:-}" ]] || return 1
  [[ -n "${pid:-}" && -n "${start:-}" && "$start" != dead ]] || return 1
  now="$(proc_starttime "$pid")" || return 1
  [[ "$now" == "$start" ]]
}

# proc_pid PIDFILE: print the recorded pid.
proc_pid() {
  local pid _
  read -r pid _ <"$1" && echo "$pid"
}
