// The standalone cold start of issue 15 §5 in one process, phase by phase:
// 512 VIPs x 100 Backends (51,712 YAML documents) read, parsed, validated,
// compiled, planned (Maglev rings) and written into a real balancer's maps
// with nothing programmed, each phase timed on its own; then the whole path as
// the agent runs it (load on its worker thread, apply on this one) with the
// longest event-loop stall, which is what /healthz waits for.
// BENCH_CPU_PROF=FILE writes a CPU profile of this thread during the last run
// (node --cpu-prof cannot be used: its sampling signals make the verifier
// fail with EAGAIN).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../src/compile/compile.ts';
import { objectsOfDocuments, parseYamlDocuments, readManifestTexts, type SterletObject, type YamlDocument } from '../../src/compile/manifests.ts';
import { fromCompiledState } from '../../src/agent/plan/desired.ts';
import { executeOps } from '../../src/agent/plan/apply.ts';
import { plan } from '../../src/agent/plan/plan.ts';
import { emptyLive } from '../../src/agent/plan/model.ts';
import { openBalancer } from '../../src/agent/dataplane/loader.ts';
import { createRingMap } from '../../src/agent/dataplane/startup.ts';
import { MapsIO } from '../../src/agent/dataplane/maps-io.ts';
import { buildRing, ringFingerprint } from '../../src/agent/plan/maglev.ts';
import { RingCache } from '../../src/agent/plan/rings.ts';
import { ringPool } from '../../src/agent/plan/ring-pool.ts';
import { fileSource } from '../../src/agent/sources/file.ts';
import { AgentRuntime, type ApplyRecord } from '../../src/agent/runtime.ts';
import { MANIFEST_BACKENDS, MANIFEST_DOCUMENTS, MANIFEST_VIPS, writeManifestSet } from '../../test/support/e2e/manifest-set.ts';

type Row = [string, string, string, string];

const RING = 65537;
const sizes = { maxVips: MANIFEST_VIPS, maxReals: MANIFEST_VIPS * MANIFEST_BACKENDS + 1024, ringSize: RING, lruSize: 1024, fallbackLruSize: 1024 };
const limits = { maxVips: sizes.maxVips, maxReals: sizes.maxReals - 1, ringSize: RING };

/** The phase rows; the balancer is opened and closed here. */
export async function coldStartPhases(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sterlet-bench-manifests-'));
  let balancer = openBench();
  try {
    writeManifestSet(dir);
    const rows: Row[] = [];
    const phase = <T>(name: string, notes: string, fn: () => T): T => {
      const t = performance.now();
      const out = fn();
      rows.push([`cold start: ${name}`, `${(performance.now() - t).toFixed(0)} ms`, '-', notes]);
      return out;
    };
    const total = performance.now();
    let t = performance.now();
    const texts = await readManifestTexts(dir);
    rows.push(['cold start: read files', `${(performance.now() - t).toFixed(0)} ms`, '-', `${texts.files.length} files, sha256 digest`]);
    const parsed = phase('YAML parse', `${MANIFEST_DOCUMENTS} documents`, () =>
      texts.files.map((file, i) => ({ file, ...parseYamlDocuments(texts.texts[i] ?? '', file) })),
    );
    const objects = phase('schema validation (zod) + duplicates', `${MANIFEST_VIPS} VirtualIPs, ${MANIFEST_VIPS * MANIFEST_BACKENDS} Backends`, () =>
      parsed.flatMap((p: { file: string; documents: YamlDocument[] }): readonly SterletObject[] => objectsOfDocuments(p.documents, p.file).objects),
    );
    const vips = phase('compile (selectors, desired state)', '', () => fromCompiledState(compile(objects).state));
    const io = new MapsIO(balancer.maps, limits);
    const cache = new RingCache();
    const options = { limits, buildRing, fingerprint: ringFingerprint, cache };
    phase('Maglev rings + fingerprints', `${MANIFEST_VIPS} rings of ${RING} slots`, () => plan(vips, emptyLive(), options));
    const p = phase('plan (diff, real indices; rings cached)', `${vips.length} VIPs`, () => plan(vips, emptyLive(), options));
    phase('map writes', `${p.writes} entries`, () => executeOps(io, p.ops));
    rows.push(['cold start: total of the phases', `${(performance.now() - total).toFixed(0)} ms`, '-', 'one thread']);

    // As the agent does it: its runtime on the file source (load on a worker
    // thread), rings from the pool, the apply on this thread, into empty maps again.
    balancer.close();
    balancer = openBench();
    rows.push(await asTheAgentRunsIt(dir, balancer));
    return rows;
  } finally {
    balancer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function asTheAgentRunsIt(dir: string, balancer: ReturnType<typeof openBalancer>): Promise<Row> {
  const pool = ringPool();
  const stop = new AbortController();
  let record: ApplyRecord | undefined;
  const runtime = new AgentRuntime({
    source: fileSource(dir, { sighup: false, resyncMs: 0 }),
    io: new MapsIO(balancer.maps, limits),
    limits,
    buildRing,
    fingerprint: ringFingerprint,
    ringPool: pool,
    log: { debug: () => undefined, info: () => undefined, warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) },
    resyncMs: 0,
    onApply: (r) => {
      record = r;
      stop.abort();
    },
  });
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const profile = await startProfile();
  const t = performance.now();
  await runtime.run(stop.signal);
  await profile?.();
  const ms = performance.now() - t;
  await new Promise((resolve) => setTimeout(resolve, 20)); // a stall right before the end is measured too
  clearInterval(tick);
  await pool.close();
  if (record?.ok !== true) throw new Error('the manifest bench input was not applied');
  return [
    'cold start as the agent runs it: load (worker) + rings (pool) + apply',
    `${ms.toFixed(0)} ms`,
    'cold start ≤ 5000 ms',
    `apply ${record.durationMs.toFixed(0)} ms, ${record.writes} writes; longest event-loop stall ${stall.toFixed(0)} ms (/healthz latency)`,
  ];
}

function openBench(): ReturnType<typeof openBalancer> {
  // The ring map the agent creates: BPF_F_MMAPABLE, written as memory.
  const ringMap = createRingMap(sizes);
  try {
    return openBalancer({ sizes, forwardingCpus: [{ cpu: 0 }], reuseMaps: { ring: ringMap.fd } });
  } finally {
    ringMap.close();
  }
}

async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env['BENCH_CPU_PROF'];
  if (file === undefined) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
