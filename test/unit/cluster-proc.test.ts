// scripts/lib/proc.sh: how scripts/cluster.sh decides that etcd or
// kube-apiserver is still running. A check made between the fork and the
// child's exec (when /proc/PID/cmdline is still the parent shell's) must say
// "alive": cluster.sh checks right after starting a server, and a wrong
// "dead" there killed a healthy kube-apiserver (CLUSTER_APISERVER_EXITED
// with an empty log).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const LIB = resolve(import.meta.dirname, '../../scripts/lib/proc.sh');
const dir = mkdtempSync(join(tmpdir(), 'sterlet-proc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bash(script: string): string {
  const r = spawnSync('bash', ['-c', `set -euo pipefail; source '${LIB}'; ${script}`], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`bash exited ${String(r.status)}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('proc.sh liveness', () => {
  it('reports a child alive before, across and after its exec, and dead once it exits', () => {
    const f = join(dir, 'late-exec.pid');
    // The subshell sleeps before it execs: for that second its cmdline is bash's.
    const out = bash(`
      ( sleep 1; exec sleep 30 ) </dev/null >/dev/null 2>&1 &
      child=$!
      proc_record '${f}' "$child"
      [[ "$(tr '\\0' ' ' </proc/$child/cmdline)" == "$(tr '\\0' ' ' </proc/$$/cmdline)" ]] && echo "cmdline is the shell's"
      proc_alive '${f}' && echo "pre-exec alive"
      sleep 1.5
      proc_alive '${f}' && echo "post-exec alive"
      kill "$child"; wait "$child" 2>/dev/null || true
      proc_alive '${f}' || echo "dead after exit"
    `);
    expect(out.split('\n')).toEqual(["cmdline is the shell's", 'pre-exec alive', 'post-exec alive', 'dead after exit']);
  });

  it('does not take a recycled pid (same pid, other start time) for the process it recorded', () => {
    const f = join(dir, 'reused.pid');
    // This bash is alive; a start time it never had stands for a pid reused by another process.
    const out = bash(`echo "$$ 1" >'${f}'; proc_alive '${f}' && echo alive || echo dead`);
    expect(out).toBe('dead');
  });

  it('treats a missing, empty or unreadable pid file as dead', () => {
    writeFileSync(join(dir, 'empty.pid'), '');
    writeFileSync(join(dir, 'garbage.pid'), 'not a pid\n');
    const out = bash(
      ['missing', 'empty', 'garbage'].map((n) => `proc_alive '${join(dir, `${n}.pid`)}' && echo alive || echo dead`).join('; '),
    );
    expect(out.split('\n')).toEqual(['dead', 'dead', 'dead']);
  });

  it('reads the start time of a process whose name holds spaces and parentheses', () => {
    const f = join(dir, 'odd-name.pid');
    const odd = join(dir, 'a (b) c');
    const out = bash(`
      cp "$(command -v sleep)" '${odd}'
      '${odd}' 30 &
      child=$!
      proc_record '${f}' "$child"
      proc_alive '${f}' && echo alive
      [[ "$(proc_pid '${f}')" == "$child" ]] && echo pid-ok
      kill "$child"; wait "$child" 2>/dev/null || true
    `);
    expect(out.split('\n')).toEqual(['alive', 'pid-ok']);
  });
});
