// The prober: one probe per (VIP, backend) pair every interval, spread over
// the interval by a hash of the pair so 51,200 pairs at 5 s are a steady
// 10k probes/s, not bursts. Results go through hysteresis (hysteresis.ts);
// what the ring sees ("published" health) changes at most once per VIP per
// interval: transitions mark the VIP dirty and one flush per interval
// publishes them and asks the runtime for one re-apply.
// One timer drives everything: each tick reaps finished TCP connects, expires
// timed-out ones and starts the due probes (phase-schedule.ts: no timer and
// no heap per pair). TCP checks run on raw sockets
// (tcp-probes.ts, a few libc calls each); HTTP checks on net.Socket (probe.ts).

import type { CompiledHealthCheck } from '../../api/health-check.ts';
import { parseIp, type IpFamily } from '../../api/ip.ts';
import type { DesiredVip } from '../plan/model.ts';
import type { Log } from '../runtime.ts';
import { initialHealth, recordProbe, type PairHealth, type Thresholds } from './hysteresis.ts';
import { applyHealth, type OverlayResult } from './overlay.ts';
import { runProbe, type ProbeResult, type ProbeTarget } from './probe.ts';
import type { RealRef } from './tunnel.ts';
import net from 'node:net';
import { encodeSockaddr } from '../../libbpf/sockets.ts';
import { PhaseSchedule } from './phase-schedule.ts';
import { TcpProbes } from './tcp-probes.ts';
import type { HealthSnapshot, PairSnapshot, ProberStats } from './snapshot.ts';

export type { HealthSnapshot, PairSnapshot, ProberStats } from './snapshot.ts';

/** A socket for a probe through `real`'s tunnel (marked), or a plain one (bench, tests). */
export type PairSocketFactory = (real: RealRef, family: IpFamily) => net.Socket;

export interface ProberHooks {
  onProbe?(vip: string, backend: string, result: ProbeResult): void;
  onTransition?(vip: string, backend: string, healthy: boolean, error: string | undefined): void;
  onFailOpen?(failOpen: readonly string[]): void;
}

export interface ProberOptions {
  readonly socketFor: PairSocketFactory;
  readonly log: Log;
  /** Published health changed: re-apply the desired state (called at most once per flush). */
  readonly onChange: () => void;
  /** The reals probes go through changed (the tunnel marks them). */
  readonly onReals?: (reals: readonly RealRef[]) => void;
  readonly hooks?: ProberHooks;
  /** Probes allowed in flight at once (each holds a socket); beyond it a due probe is skipped and counted as missed. Default 8192. */
  readonly maxInFlight?: number;
  /** TCP checks: raw non-blocking sockets reaped in batches (default), or net.Socket from socketFor as HTTP checks. */
  readonly tcpConnect?: 'sockets' | 'node';
  /** The SO_MARK of a real's tunnel for raw-socket TCP checks (throws when it has none); absent = unmarked (tests, bench). */
  readonly markFor?: (real: RealRef) => number;
}

/** Reaping cadence while TCP connects are in flight: 1 ms while they finish, backing off to 16 ms while none do. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 16;

interface Pair {
  readonly key: string;
  readonly vip: string;
  readonly backend: string;
  readonly name: string | undefined;
  real: RealRef;
  target: ProbeTarget;
  /** target's VIP:port as a sockaddr, for raw-socket TCP checks. */
  sockaddr: Buffer;
  thresholds: Thresholds;
  intervalMs: number;
  /** Offset of its probes in the interval (phase-schedule.ts), from a hash of the key. */
  phase: number;
  inFlight: boolean;
  health: PairHealth;
  /** What the ring uses; updated by flushes only. */
  published: boolean;
  removed: boolean;
}

/** FNV-1a of the key: spread enough for phases, and ~50x cheaper than a sha1 per pair (51,200 at a cold start). */
function phase(key: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % intervalMs;
}

function sockaddrOf(vip: DesiredVip, check: CompiledHealthCheck): Buffer {
  const ip = parseIp(vip.key.address);
  return encodeSockaddr(ip?.bytes ?? new Uint8Array(4), check.port);
}

function targetOf(vip: DesiredVip, check: CompiledHealthCheck): ProbeTarget {
  return {
    type: check.type,
    address: vip.key.address,
    family: vip.key.family,
    port: check.port,
    path: check.path,
    expectedStatus: check.expectedStatus,
    timeoutMs: check.timeoutSeconds * 1000,
  };
}

export class HealthProber {
  readonly #o: ProberOptions;
  readonly #pairs = new Map<string, Pair>();
  /** The same pairs by VIP id: flushes and reports touch one VIP's pairs, not all 51,200. */
  readonly #byVip = new Map<string, Set<Pair>>();
  readonly #schedule = new PhaseSchedule<Pair>();
  readonly #dirty = new Set<string>();
  readonly #lastFlush = new Map<string, number>();
  readonly #vipInterval = new Map<string, number>();
  #failOpen: readonly string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushAt = Number.POSITIVE_INFINITY;
  #running = false;
  #probes = 0;
  #missed = 0;
  #inFlight = 0;
  readonly #tcp = new TcpProbes<Pair>((pair, result) => this.#result(pair, result));
  #pollMs = POLL_MIN_MS;

  constructor(options: ProberOptions) {
    this.#o = options;
  }

  /** The pairs to probe, from the source's desired state; surviving pairs keep their health. */
  setTargets(vips: readonly DesiredVip[]): void {
    const now = Date.now();
    const seen = new Set<string>();
    let reschedule = false;
    this.#vipInterval.clear();
    for (const vip of vips) {
      // One target and sockaddr per check of the VIP, shared by its pairs.
      const probeOf = new Map<CompiledHealthCheck, { target: ProbeTarget; sockaddr: Buffer }>();
      for (const b of vip.backends) {
        const check = b.unchecked === true ? undefined : (b.healthCheck ?? vip.healthCheck);
        if (check === undefined) continue;
        let probe = probeOf.get(check);
        if (probe === undefined) probeOf.set(check, (probe = { target: targetOf(vip, check), sockaddr: sockaddrOf(vip, check) }));
        const key = `${vip.id}|${b.address}`;
        seen.add(key);
        const intervalMs = check.intervalSeconds * 1000;
        this.#vipInterval.set(vip.id, Math.min(this.#vipInterval.get(vip.id) ?? intervalMs, intervalMs));
        const real: RealRef = { address: b.address, encapsulation: vip.flags.encapsulation };
        const existing = this.#pairs.get(key);
        if (existing !== undefined) {
          existing.real = real;
          existing.target = probe.target;
          existing.sockaddr = probe.sockaddr;
          existing.thresholds = check;
          if (existing.intervalMs !== intervalMs) {
            existing.intervalMs = intervalMs;
            existing.phase = phase(key, intervalMs);
            reschedule = true;
          }
          continue;
        }
        const pair: Pair = {
          key,
          vip: vip.id,
          backend: b.address,
          name: b.name,
          real,
          target: probe.target,
          sockaddr: probe.sockaddr,
          thresholds: check,
          intervalMs,
          phase: phase(key, intervalMs),
          inFlight: false,
          health: initialHealth(now),
          published: true,
          removed: false,
        };
        this.#pairs.set(key, pair);
        const set = this.#byVip.get(vip.id) ?? new Set<Pair>();
        set.add(pair);
        this.#byVip.set(vip.id, set);
        reschedule = true;
      }
    }
    for (const [key, pair] of this.#pairs) {
      if (seen.has(key)) continue;
      pair.removed = true;
      this.#pairs.delete(key);
      const set = this.#byVip.get(pair.vip);
      set?.delete(pair);
      if (set?.size === 0) this.#byVip.delete(pair.vip);
      reschedule = true;
    }
    if (reschedule) this.#schedule.set(this.#pairs.values(), now);
    for (const vip of [...this.#lastFlush.keys()]) if (!this.#vipInterval.has(vip)) this.#lastFlush.delete(vip);
    this.#o.onReals?.(this.reals());
    if (this.#running) this.#arm();
  }

  /** Distinct (address, encapsulation) pairs the probes travel to. */
  reals(): RealRef[] {
    const out = new Map<string, RealRef>();
    for (const p of this.#pairs.values()) out.set(`${p.real.encapsulation} ${p.real.address}`, p.real);
    return [...out.values()];
  }

  /** Published health: false = out of the ring; undefined = not probed. */
  healthy(vip: string, address: string): boolean | undefined {
    return this.#pairs.get(`${vip}|${address}`)?.published;
  }

  /** Health as probed now (before batching) of every pair: false = failing its check. */
  forEachProbed(fn: (vip: string, backend: string, healthy: boolean) => void): void {
    for (const p of this.#pairs.values()) fn(p.vip, p.backend, p.health.healthy);
  }

  /**
   * The desired state with health applied (the runtime's overlay); logs fail-open VIPs.
   * `decide` local: this node's published health; fleet: the controller's decision
   * carried in the state (backends marked unhealthy), so every node builds the same ring.
   */
  overlay(vips: readonly DesiredVip[], decide: 'local' | 'fleet' = 'local'): OverlayResult {
    const fleet = new Set<string>();
    if (decide === 'fleet') for (const v of vips) for (const b of v.backends) if (b.unhealthy === true) fleet.add(`${v.id}|${b.address}`);
    const lookup = decide === 'fleet'
      ? (vip: string, address: string): boolean | undefined => (fleet.has(`${vip}|${address}`) ? false : undefined)
      : (vip: string, address: string): boolean | undefined => this.healthy(vip, address);
    const result = applyHealth(vips, lookup);
    const before = new Set(this.#failOpen);
    const now = new Set(result.failOpen);
    for (const id of now) {
      if (!before.has(id)) this.#o.log.error({ vip: id }, `every backend of VirtualIP ${id} is unhealthy: failing open, all stay in the ring`);
    }
    for (const id of before) if (!now.has(id)) this.#o.log.warn({ vip: id }, `VirtualIP ${id} has healthy backends again: no longer failing open`);
    this.#failOpen = result.failOpen;
    this.#o.hooks?.onFailOpen?.(result.failOpen);
    return result;
  }

  /** This node's published view of a VIP (what it reports to the controller); undefined when it probes none of its backends. */
  report(vip: string): { healthChecked: boolean; unhealthyBackends: { address: string; message: string }[] } | undefined {
    let any = false;
    const unhealthyBackends: { address: string; message: string }[] = [];
    for (const p of this.#byVip.get(vip) ?? []) {
      any = true;
      if (!p.published) unhealthyBackends.push({ address: p.backend, message: p.health.lastError ?? 'probe failed' });
    }
    if (!any) return undefined;
    unhealthyBackends.sort((a, b) => (a.address < b.address ? -1 : 1));
    return { healthChecked: true, unhealthyBackends };
  }

  start(signal?: AbortSignal): void {
    this.#running = true;
    signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#flushTimer);
    this.#timer = undefined;
    this.#flushTimer = undefined;
    for (const pair of this.#tcp.close()) {
      pair.inFlight = false;
      this.#inFlight--;
    }
  }

  stats(): ProberStats {
    return { pairs: this.#pairs.size, probes: this.#probes, missed: this.#missed, inFlight: this.#inFlight };
  }

  snapshot(): HealthSnapshot {
    const byVip = new Map<string, PairSnapshot[]>();
    for (const p of this.#pairs.values()) {
      const list = byVip.get(p.vip) ?? [];
      list.push({
        backend: p.backend,
        ...(p.name === undefined ? {} : { name: p.name }),
        healthy: p.published,
        probedHealthy: p.health.healthy,
        since: new Date(p.health.since).toISOString(),
        probes: p.health.probes,
        ...(p.health.lastError === undefined ? {} : { lastError: p.health.lastError }),
      });
      byVip.set(p.vip, list);
    }
    const failOpen = new Set(this.#failOpen);
    const vips = [...byVip.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, backends]) => ({ id, failOpen: failOpen.has(id), backends: backends.sort((a, b) => (a.backend < b.backend ? -1 : 1)) }));
    return { vips, probes: this.#probes, missed: this.#missed };
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (!this.#running) return;
    let delay = this.#schedule.next() - Date.now();
    if (this.#tcp.inFlight > 0) delay = Math.min(delay, this.#pollMs);
    if (delay === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, delay));
  }

  #tick(): void {
    const reaped = this.#tcp.poll();
    this.#pollMs = reaped > 0 ? POLL_MIN_MS : Math.min(POLL_MAX_MS, this.#pollMs * 2);
    const now = Date.now();
    // Not `#missed += due(...)`: the callback counts misses too, and += would read #missed before it runs.
    const skipped = this.#schedule.due(now, (pair, late) => {
      const full = this.#inFlight >= (this.#o.maxInFlight ?? 8192);
      if (pair.inFlight || full || late > pair.intervalMs) this.#missed++;
      if (!pair.inFlight && !full) this.#probe(pair);
    });
    this.#missed += skipped;
    this.#arm();
  }

  #probe(pair: Pair): void {
    pair.inFlight = true;
    this.#inFlight++;
    this.#probes++;
    if (pair.target.type === 'TCP' && this.#o.tcpConnect !== 'node') {
      let mark: number | undefined;
      try {
        mark = this.#o.markFor?.(pair.real);
      } catch (err) {
        this.#result(pair, { ok: false, latencyMs: 0, error: err instanceof Error ? err.message : String(err) });
        return;
      }
      this.#pollMs = POLL_MIN_MS;
      this.#tcp.start(pair, pair.sockaddr, mark, pair.target.timeoutMs);
      return;
    }
    const socketFor = (family: IpFamily): net.Socket => this.#o.socketFor(pair.real, family);
    void runProbe(pair.target, socketFor).then((result) => this.#result(pair, result));
  }

  #result(pair: Pair, result: ProbeResult): void {
    pair.inFlight = false;
    this.#inFlight--;
    if (pair.removed) return;
    this.#o.hooks?.onProbe?.(pair.vip, pair.backend, result);
    const { health, changed } = recordProbe(pair.health, result, pair.thresholds, Date.now());
    pair.health = health;
    if (!changed) return;
    this.#o.hooks?.onTransition?.(pair.vip, pair.backend, health.healthy, health.lastError);
    const who = `${pair.vip} backend ${pair.name ?? pair.backend} (${pair.backend})`;
    if (health.healthy) this.#o.log.info({ vip: pair.vip, backend: pair.backend }, `${who} is healthy again`);
    else this.#o.log.warn({ vip: pair.vip, backend: pair.backend, error: health.lastError }, `${who} is unhealthy: ${health.lastError ?? 'probe failed'}`);
    this.#markDirty(pair.vip);
  }

  #markDirty(vip: string): void {
    this.#dirty.add(vip);
    const interval = this.#vipInterval.get(vip) ?? 1000;
    const at = Math.max(Date.now(), (this.#lastFlush.get(vip) ?? 0) + interval);
    if (at >= this.#flushAt) return;
    clearTimeout(this.#flushTimer);
    this.#flushAt = at;
    this.#flushTimer = setTimeout(() => this.#flush(), Math.max(0, at - Date.now()));
  }

  /** Publishes the probed health of every due dirty VIP, then asks for one re-apply. */
  #flush(): void {
    const now = Date.now();
    this.#flushAt = Number.POSITIVE_INFINITY;
    this.#flushTimer = undefined;
    let changed = false;
    const later: string[] = [];
    for (const vip of this.#dirty) {
      const interval = this.#vipInterval.get(vip) ?? 1000;
      if ((this.#lastFlush.get(vip) ?? 0) + interval > now) {
        later.push(vip);
        continue;
      }
      for (const p of this.#byVip.get(vip) ?? []) {
        if (p.published === p.health.healthy) continue;
        p.published = p.health.healthy;
        changed = true;
      }
      this.#lastFlush.set(vip, now);
    }
    this.#dirty.clear();
    if (changed) this.#o.onChange();
    for (const vip of later) this.#markDirty(vip);
  }
}
