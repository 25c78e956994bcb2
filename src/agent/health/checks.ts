// Health checks in a running agent: the probe tunnel on the balancer's
// interface, the prober, its metrics and its snapshot file, wired to the
// runtime as an overlay (unhealthy backends out of the ring) and a re-apply
// trigger (at most one per VIP per interval, see prober.ts).

import net from 'node:net';
import type { Registry } from 'prom-client';
import { errorText } from '../../common/errors.ts';
import { markedTcpSocket } from '../../libbpf/sockets.ts';
import type { Log, StateOverlay } from '../runtime.ts';
import { healthMetrics } from './metrics.ts';
import { HealthProber } from './prober.ts';
import { writeHealthFile } from './snapshot-file.ts';
import { openProbeTunnel, type RealRef, type TunnelSettings } from './tunnel.ts';

export interface HealthChecksOptions {
  readonly ifindex: number;
  readonly tunnel: TunnelSettings;
  readonly log: Log;
  readonly registry: Registry;
  /** Where `sterlet stats` reads the health view (snapshot-file.ts). */
  readonly healthFile: string;
  /** Re-apply the last good state (the runtime's reapply). */
  readonly reapply: () => Promise<void>;
  readonly objectPath?: string | undefined;
  /**
   * local (standalone): this node's probes decide. fleet (cluster): probes are
   * reported, the controller decides and publishes, every node applies that.
   */
  readonly decide: 'local' | 'fleet';
}

export interface HealthChecks {
  readonly overlay: StateOverlay;
  readonly prober: HealthProber;
  start(signal: AbortSignal): void;
  close(): void;
}

const SNAPSHOT_EVERY_MS = 2000;

export function startHealthChecks(o: HealthChecksOptions): HealthChecks {
  const tunnel = openProbeTunnel({ ifindex: o.ifindex, settings: o.tunnel, objectPath: o.objectPath });
  let timer: NodeJS.Timeout | undefined;
  const snapshot = (): void => {
    try {
      writeHealthFile(o.healthFile, prober.snapshot());
    } catch (err) {
      o.log.warn({ err: errorText(err), path: o.healthFile }, 'writing the health snapshot failed');
    }
  };
  const markFor = (real: RealRef): number => {
    const mark = tunnel.markFor(real);
    if (mark === undefined) throw new Error(`no tunnel mark for ${real.encapsulation} ${real.address} (more than 65536 distinct backends?)`);
    return mark;
  };
  const prober: HealthProber = new HealthProber({
    socketFor: (real, family) => new net.Socket({ fd: markedTcpSocket(family === 'IPv4' ? 4 : 6, markFor(real)), readable: true, writable: true }),
    markFor,
    log: o.log,
    onChange: () => {
      void o.reapply().then(snapshot);
    },
    onReals: (reals) => tunnel.sync(reals),
    hooks: healthMetrics(o.registry, () => prober),
  });
  return {
    prober,
    overlay: {
      apply: (vips) => prober.overlay(vips, o.decide).vips,
      accepted: (vips) => prober.setTargets(vips),
      report: (id) => prober.report(id),
    },
    start: (signal) => {
      prober.start(signal);
      timer = setInterval(snapshot, SNAPSHOT_EVERY_MS);
      signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    },
    close: () => {
      clearInterval(timer);
      prober.stop();
      tunnel.close();
    },
  };
}
