// For tests that attach XDP in the host namespace: a veth pair made up and
// torn down around each test (with the bpffs directory its pins went to), and
// BPF objects compiled with the repository's include paths (another -mcpu =
// another build of the same source, with another program tag).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Creates `veth` with its `peer`, both up; returns the ifindex of `veth`. */
export function addVeth(veth: string, peer: string): number {
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  execFileSync('ip', ['link', 'set', veth, 'up']);
  execFileSync('ip', ['link', 'set', peer, 'up']);
  return Number(execFileSync('cat', [`/sys/class/net/${veth}/ifindex`]).toString());
}

/** Deletes the pair (which detaches its XDP programs) and the pin directory, even when the first step fails. */
export function removeVeth(veth: string, bpffs: string): void {
  try {
    execFileSync('ip', ['link', 'del', veth]);
  } finally {
    rmSync(bpffs, { recursive: true, force: true });
  }
}

/** clang for BPF with the Makefile's include paths, run from the repository root. */
export function compileBpf(source: string, out: string, cpu = 'v3'): string {
  const arch = execFileSync('gcc', ['-dumpmachine']).toString().trim();
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-mcpu=${cpu}`, '-Wno-unused-function', '-I', 'bpf/include', '-I', 'build/libbpf/include', '-I', `/usr/include/${arch}`, '-c', source, '-o', out]);
  return out;
}
