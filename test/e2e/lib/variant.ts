// A second build of the balancer program for the upgrade test: the same
// source compiled with the repository's own clang command line (taken from
// `make -n`, so it never drifts from the Makefile) into the run's scratch
// directory, with another BPF target CPU version (-mcpu=v2: no 32-bit
// jumps), so it is a genuinely different instruction stream, not a copy.
import { join } from 'node:path';
import { REPO_ROOT, run } from './exec.ts';

const OBJECT = 'build/bpf/balancer.bpf.o';

export async function buildVariantObject(scratch: string, options: { cpu?: string } = {}): Promise<string> {
  const { stdout } = await run(['make', '-C', REPO_ROOT, '-s', '-n', '-B', OBJECT]);
  const line = stdout.split('\n').find((l) => l.startsWith('clang ') && l.includes(` -o ${OBJECT}`));
  if (line === undefined) throw new Error(`E2E_VARIANT_BUILD: no clang command for ${OBJECT} in \`make -n\` output:\n${stdout}`);
  const out = join(scratch, 'balancer-variant.bpf.o');
  const argv = line
    .split(/\s+/)
    .filter(Boolean)
    .map((arg) => (arg === OBJECT ? out : arg.startsWith('-mcpu=') ? `-mcpu=${options.cpu ?? 'v2'}` : arg));
  await run(argv, { timeoutMs: 120_000, cwd: REPO_ROOT }).catch((error: unknown) => {
    throw new Error(`E2E_VARIANT_BUILD: compiling the variant balancer failed`, { cause: error });
  });
  return out;
}
