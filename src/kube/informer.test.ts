import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApiServer } from '../../test/support/fake-api-server.ts';
import { type KubeClient, Resources } from './client.ts';
import { Informer } from './informer.ts';

// A fake API server: `lists` answers list calls in order (the last one repeats), `watches` likewise.
let lists: ((res: http.ServerResponse) => void)[] = [];
let watches: ((res: http.ServerResponse) => void)[] = [];
let api: FakeApiServer;
let client: KubeClient;

const obj = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });
const json = (res: http.ServerResponse, code: number, body: unknown): void => { res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };

beforeAll(async () => {
  api = await startFakeApiServer((req, res) => {
    const queue = req.url?.includes('watch=true') === true ? watches : lists;
    const next = queue.length > 1 ? queue.shift() : queue[0];
    if (next === undefined) return json(res, 500, {});
    next(res);
  }, 't');
  client = api.client;
});

afterAll(() => api.close());

describe('Informer', () => {
  it('lists, watches, survives a broken watch and relists after 410 Gone, reporting what vanished', async () => {
    const seen: string[] = [];
    lists = [
      (res) => json(res, 200, { metadata: { resourceVersion: '10' }, items: [obj('a', '5'), obj('b', '6')] }),
      (res) => json(res, 200, { metadata: { resourceVersion: '30' }, items: [obj('a', '5'), obj('c', '21')] }),
    ];
    watches = [
      (res) => { res.writeHead(200); res.write(`${JSON.stringify({ type: 'MODIFIED', object: obj('b', '11') })}\n`); setTimeout(() => res.socket?.destroy(), 10); },
      (res) => { res.writeHead(200); res.end(`${JSON.stringify({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old' } })}\n`); },
      (res) => { res.writeHead(200); res.write(`${JSON.stringify({ type: 'ADDED', object: obj('d', '31') })}\n`); },
    ];
    const ac = new AbortController();
    const inf = new Informer(client, Resources.virtualIP, { minBackoffMs: 5, onChange: (ev, o) => seen.push(`${ev} ${o.metadata.name}`) });
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await running;
    expect(seen).toEqual(['add a', 'add b', 'update b', 'add c', 'delete b', 'add d']);
    expect(inf.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'c', 'd']);
  });

  it('an optional kind that is forbidden counts as synced and empty', async () => {
    lists = [(res) => json(res, 403, { kind: 'Status', reason: 'Forbidden', message: 'namespaces is forbidden', code: 403 })];
    const ac = new AbortController();
    const inf = new Informer(client, Resources.namespace, { optional: true, minBackoffMs: 5 });
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    expect(inf.list()).toEqual([]);
    ac.abort();
    await running;
  });
});
