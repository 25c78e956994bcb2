// Worker-thread side of off-thread.ts: reads, parses, validates and compiles
// manifests away from the agent's event loop. Messages are plain data.

import { parentPort } from 'node:worker_threads';
import { readManifestTexts } from '../../compile/manifests.ts';
import { compileManifestTexts } from './manifests.ts';
import type { LoadReply, LoadRequest } from './off-thread.ts';

const port = parentPort;
if (port === null) throw new Error('load-worker.ts runs only as a worker thread');

port.on('message', (req: LoadRequest) => {
  void (async (): Promise<LoadReply> => {
    try {
      const texts = await readManifestTexts(req.path);
      if (texts.digest === req.unlessDigest) return { id: req.id, digest: texts.digest };
      return { id: req.id, digest: texts.digest, load: compileManifestTexts(texts, req.node === undefined ? {} : { node: req.node }) };
    } catch (err) {
      return { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
  })().then((reply) => port.postMessage(reply));
});
