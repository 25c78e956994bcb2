// Worker-thread side of ring-pool.ts: builds Maglev rings (positions in the
// id-sorted input) and their fingerprints away from the agent's event loop.
// The positions go back as transferred buffers, never copied.

import { parentPort } from 'node:worker_threads';
import { buildRing, ringFingerprint } from './maglev.ts';
import type { RingReply, RingRequest } from './ring-pool.ts';

const port = parentPort;
if (port === null) throw new Error('ring-worker.ts runs only as a worker thread');

port.on('message', (req: RingRequest) => {
  try {
    const rings = req.inputs.map((input) => {
      const backends = input.ids.map((id, i) => ({ id, weight: input.weights[i] ?? 0 }));
      const positions = buildRing(backends, req.size);
      return { key: input.key, positions, fingerprint: ringFingerprint(positions, input.ids) };
    });
    port.postMessage({ id: req.id, rings } satisfies RingReply, rings.map((r) => r.positions.buffer as ArrayBuffer));
  } catch (err) {
    port.postMessage({ id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies RingReply);
  }
});
