import { describe, expect, it } from 'vitest';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('dedups keys that are waiting', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands a key to two workers; re-adds it after done when dirtied', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a'); // while processing
    expect(q.depth).toBe(0);
    q.done(key ?? '');
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('backs off exponentially per key and forget resets it', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    expect(q.addRateLimited('a')).toBe(10);
    expect(q.addRateLimited('a')).toBe(20);
    expect(q.addRateLimited('a')).toBe(40);
    expect(q.addRateLimited('a')).toBe(50);
    expect(q.addRateLimited('b')).toBe(10);
    q.forget('a');
    expect(q.addRateLimited('a')).toBe(10);
    q.shutdown();
  });

  it('delivers delayed keys after the delay', async () => {
    const q = new WorkQueue();
    const started = performance.now();
    q.addAfter('x', 30);
    expect(await q.get()).toBe('x');
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('get resolves undefined on abort and does not swallow a later key', async () => {
    const q = new WorkQueue();
    const ac = new AbortController();
    const waiting = q.get(ac.signal);
    ac.abort();
    expect(await waiting).toBeUndefined();
    q.add('k');
    expect(await q.get()).toBe('k');
  });

  it('shutdown wakes waiting workers', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });
});
