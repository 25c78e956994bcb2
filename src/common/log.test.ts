import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SterletError } from './errors.ts';
import { createLogger } from './log.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done): void {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

describe('createLogger', () => {
  it('writes JSON lines with a level name, ISO time, name and base fields', () => {
    const out = capture();
    const log = createLogger({ name: 'agent', destination: out.stream, base: { node: 'lb-1' }, env: {} });
    log.info({ vip: '10.0.0.1:80' }, 'applied');
    log.debug('hidden at info');
    const [line, ...rest] = out.lines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 'info', name: 'agent', node: 'lb-1', vip: '10.0.0.1:80', msg: 'applied' });
    expect(new Date(String(line!['time'])).toISOString()).toBe(line!['time']);
  });

  it('takes the level from the option, then STERLET_LOG_LEVEL', () => {
    expect(createLogger({ level: 'debug', env: { STERLET_LOG_LEVEL: 'error' } }).level).toBe('debug');
    expect(createLogger({ env: { STERLET_LOG_LEVEL: 'WARN' } }).level).toBe('warn');
    expect(createLogger({ env: {} }).level).toBe('info');
  });

  it('rejects unknown levels naming their source', () => {
    expect(() => createLogger({ env: { STERLET_LOG_LEVEL: 'loud' } })).toThrow(/STERLET_LOG_LEVEL/);
    expect(() => createLogger({ level: 'verbose', env: {} })).toThrow(SterletError);
  });

  it('serializes SterletError with its code and cause', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, env: {} });
    const err = new SterletError('DEMO_FAILED', 'demo failed', { why: 'testing', fix: 'none', cause: new Error('inner') });
    log.error({ err }, 'apply failed');
    const line = out.lines()[0]!;
    // pino's serializer appends the cause chain to the message.
    expect(line['err']).toMatchObject({ type: 'SterletError', code: 'DEMO_FAILED', message: 'demo failed: testing. Fix: none: inner' });
  });
});

describe('logging an error object', () => {
  it('keeps its code, fix and cause under err (call sites pass err, not String(err))', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
    const cause = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    log.warn({ err: new SterletError('X_FAILED', 'x failed', { fix: 'retry', cause }) }, 'step failed');
    const err = (JSON.parse(lines[0] ?? '{}') as { err: { code: string; fix: string; stack: string; message: string } }).err;
    expect(err).toMatchObject({ code: 'X_FAILED', fix: 'retry' });
    expect(err.stack).toContain('caused by: Error: no such file');
  });
});
