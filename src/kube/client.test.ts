import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApiServer } from '../../test/support/fake-api-server.ts';
import { KubeApiError, type KubeClient, resourcePath, Resources, type WatchEvent } from './client.ts';

// A fake API server on loopback: each test sets how the next watch behaves.
let behaviour: (res: http.ServerResponse) => void = () => undefined;
let api: FakeApiServer;
let client: KubeClient;
const seenAuth: string[] = [];

beforeAll(async () => {
  api = await startFakeApiServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? '');
    if (req.url?.includes('watch=true') === true) return behaviour(res);
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'virtualips "x" not found', code: 404 }));
  }, 'secret-token');
  client = api.client;
});

afterAll(() => api.close());

const event = (type: string, name: string): string => `${JSON.stringify({ type, object: { metadata: { name, resourceVersion: '7' } } })}\n`;

describe('KubeClient', () => {
  it('builds REST paths for core, grouped, namespaced and status resources', () => {
    expect(resourcePath(Resources.node, { name: 'n1' })).toBe('/api/v1/nodes/n1');
    expect(resourcePath(Resources.virtualIP, { namespace: 'a', name: 'web', subresource: 'status' })).toBe('/apis/sterlet.dev/v1alpha1/namespaces/a/virtualips/web/status');
    expect(resourcePath(Resources.loadBalancerNode, { namespace: 'ignored' })).toBe('/apis/sterlet.dev/v1alpha1/loadbalancernodes');
  });

  it('turns a Status answer into a KubeApiError with status and reason, sending the bearer token', async () => {
    const err = await client.get(Resources.virtualIP, 'x', 'a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 404, reason: 'NotFound', code: 'KUBE_API_ERROR' });
    expect(seenAuth.at(-1)).toBe('Bearer secret-token');
  });

  it('delivers watch events split across chunks and resolves when the server ends the stream', async () => {
    behaviour = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = event('ADDED', 'a') + event('MODIFIED', 'b');
      res.write(text.slice(0, 25));
      setTimeout(() => res.end(text.slice(25)), 20);
    };
    const got: WatchEvent[] = [];
    await client.watch(Resources.virtualIP, {}, (e) => got.push(e));
    expect(got.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'MODIFIED b']);
  });

  it('rejects (never hangs) when the connection breaks mid-stream', async () => {
    behaviour = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(event('ADDED', 'a'));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const got: WatchEvent[] = [];
    const err = await client.watch(Resources.virtualIP, {}, (e) => got.push(e)).catch((e: unknown) => e);
    expect(got).toHaveLength(1);
    expect(err).toMatchObject({ status: 0, code: 'KUBE_UNREACHABLE' });
  });

  it('rejects with the code of an ERROR event (410 Gone means relist)', async () => {
    behaviour = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
    };
    const err = await client.watch(Resources.virtualIP, { resourceVersion: '1' }, () => undefined).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 410, reason: 'Expired' });
  });

  it('resolves quietly when the caller aborts', async () => {
    behaviour = (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write(event('ADDED', 'a')); };
    const ac = new AbortController();
    const watching = client.watch(Resources.virtualIP, { signal: ac.signal }, () => ac.abort());
    await expect(watching).resolves.toBeUndefined();
  });
});
