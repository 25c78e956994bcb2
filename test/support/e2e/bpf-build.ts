// Compiling BPF objects the e2e tests need beyond `make bpf`, with the
// repository's own clang command line (taken from `make -n`, so flags never
// drift from the Makefile), into the run's scratch directory:
// - a second build of the balancer for the upgrade test, with another BPF
//   target CPU version (-mcpu=v2: no 32-bit jumps), so it is a genuinely
//   different instruction stream, not a byte-identical copy;
// - the harness's own XDP_PASS program and the filter stage of the XDP chain
//   test (test/e2e/progs).
import { join } from 'node:path';
import { REPO_ROOT, run } from '../exec.ts';

const BALANCER_OBJECT = 'build/bpf/balancer.bpf.o';
const BALANCER_SOURCE = 'bpf/balancer.bpf.c';

/** The clang argv `make` uses for the balancer object. */
async function clangArgv(): Promise<string[]> {
  const { stdout } = await run(['make', '-C', REPO_ROOT, '-s', '-n', '-B', BALANCER_OBJECT]);
  const line = stdout.split('\n').find((l) => l.startsWith('clang ') && l.includes(` -o ${BALANCER_OBJECT}`));
  if (line === undefined) throw new Error(`E2E_BPF_BUILD: no clang command for ${BALANCER_OBJECT} in \`make -n\` output:\n${stdout}`);
  return line.split(/\s+/).filter(Boolean);
}

/** Compiles `source` (relative to `sourceRoot`, whose bpf/include is used) with the Makefile's flags. */
async function compile(source: string, out: string, options: { cpu?: string; sourceRoot?: string } = {}): Promise<string> {
  const argv = (await clangArgv()).map((arg) => {
    if (arg === BALANCER_OBJECT) return out;
    if (arg === BALANCER_SOURCE) return source;
    if (arg.startsWith('-mcpu=') && options.cpu !== undefined) return `-mcpu=${options.cpu}`;
    if (arg.startsWith('build/')) return join(REPO_ROOT, arg); // libbpf headers stay this checkout's
    return arg;
  });
  try {
    await run(argv, { timeoutMs: 120_000, cwd: options.sourceRoot ?? REPO_ROOT });
  } catch (error) {
    throw new Error(`E2E_BPF_BUILD: compiling ${source} failed`, { cause: error });
  }
  return out;
}

/**
 * The balancer built again with -mcpu=v2 (clang 14 knows v1-v3; `make bpf`
 * uses v3), from bpf/ of this checkout, or of STERLET_E2E_BPF_ROOT when the
 * suite runs against another build (STERLET_E2E_BALANCER_OBJECT).
 */
export function buildVariantBalancer(scratch: string, options: { cpu?: string } = {}): Promise<string> {
  return compile(BALANCER_SOURCE, join(scratch, 'balancer-variant.bpf.o'), {
    cpu: options.cpu ?? 'v2',
    sourceRoot: process.env.STERLET_E2E_BPF_ROOT ?? REPO_ROOT,
  });
}

/** test/e2e/progs/xdp_pass.bpf.c -> <scratch>/xdp_pass.bpf.o */
export function buildXdpPass(scratch: string): Promise<string> {
  return compile(join(REPO_ROOT, 'test/e2e/progs/xdp_pass.bpf.c'), join(scratch, 'xdp_pass.bpf.o'));
}

/** test/e2e/progs/xdp_filter_stage.bpf.c -> <scratch>/xdp_filter_stage.bpf.o (built against bpf/include/xdp_stage.h) */
export function buildFilterStage(scratch: string): Promise<string> {
  return compile(join(REPO_ROOT, 'test/e2e/progs/xdp_filter_stage.bpf.c'), join(scratch, 'xdp_filter_stage.bpf.o'));
}
