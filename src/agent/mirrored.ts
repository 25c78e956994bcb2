// Prometheus series mirrored from a snapshot of BPF map counters. The maps
// are read once per scrape (not on a timer) and every series of that scrape
// shares the one read, so what Prometheus sees is what the program counted.

import { Counter, Gauge, type Registry } from 'prom-client';

export interface MirroredOptions<S> {
  readonly registry: Registry;
  readonly read: () => S | Promise<S>;
  /** Name of the counter of failed reads, e.g. sterlet_dataplane_read_errors_total. */
  readonly readErrorsName: string;
  /** Called when a read fails; the scrape still succeeds without those series. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

export interface Mirrored<S> {
  /** A counter whose value is replaced from the snapshot at every scrape. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (c: Counter<L>, s: S) => void): void;
  /** A gauge set from the snapshot at every scrape (series absent from it disappear). */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>, s: S) => void): void;
}

export function mirroredMetrics<S>(o: MirroredOptions<S>): Mirrored<S> {
  const registers = [o.registry];
  const readErrors = new Counter({
    name: o.readErrorsName,
    help: 'Scrapes where the BPF map counters could not be read.',
    registers,
    async collect(): Promise<void> {
      await snapshot(); // so a failure of this scrape is already counted
    },
  });
  const snapshot = snapshotOncePerScrape(o.read, (err) => {
    readErrors.inc();
    o.onError?.(err);
  });
  return {
    counter: (name, help, labelNames, fill) => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        async collect(this: Counter): Promise<void> {
          const s = await snapshot();
          this.reset();
          if (s !== undefined) fill(this, s);
        },
      });
    },
    gauge: (name, help, labelNames, fill) => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect(this: Gauge): Promise<void> {
          const s = await snapshot();
          this.reset();
          if (s !== undefined) fill(this, s);
        },
      });
    },
  };
}

/**
 * prom-client collects every metric concurrently; they all share the first
 * read of a scrape instead of reading the maps once per metric.
 */
function snapshotOncePerScrape<S>(read: () => S | Promise<S>, onError: (err: unknown) => void): () => Promise<S | undefined> {
  let inflight: Promise<S | undefined> | undefined;
  return () => {
    inflight ??= (async () => {
      try {
        return await read();
      } catch (err) {
        onError(err);
        return undefined;
      } finally {
        setImmediate(() => (inflight = undefined));
      }
    })();
    return inflight;
  };
}

/** u64 map values arrive as bigints; Prometheus samples are doubles. */
export function num(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}
