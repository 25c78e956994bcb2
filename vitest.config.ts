import { defineConfig } from 'vitest/config';

// Projects split by what they need: `unit` is pure logic and runs anywhere;
// the others touch the real kernel or a real API server, need root, and run
// one file at a time because they share the machine's network and BPF state.
// groupOrder runs the projects one after another: the e2e tests assert zero
// failed requests across agent restarts, which a concurrent suite on a
// 2-core machine would turn into a test of the scheduler.
const serial = { fileParallelism: false, testTimeout: 120_000, hookTimeout: 300_000 } as const;

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      { test: { name: 'bpf', include: ['test/bpf/**/*.test.ts'], ...serial, sequence: { groupOrder: 1 } } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], ...serial, sequence: { groupOrder: 2 } } },
      {
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts', 'test/helm/**/*.test.ts', 'test/tenancy/**/*.test.ts'],
          // Builds the cached binaries and starts (or reuses) the local control plane.
          globalSetup: ['test/k8s/global-setup.ts'],
          ...serial,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
