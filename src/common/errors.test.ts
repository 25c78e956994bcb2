import { describe, expect, it } from 'vitest';
import { SterletError, errorText, isSterletError } from './errors.ts';

describe('SterletError', () => {
  it('composes what, why and fix into the message and keeps the parts', () => {
    const cause = new Error('ENOENT');
    const err = new SterletError('AGENT_PIN_MISSING', 'pinned map /sys/fs/bpf/x is missing', {
      why: 'the balancer was detached',
      fix: 'run `sterlet agent` to load it again',
      hint: 'ls /sys/fs/bpf',
      cause,
      details: { path: '/sys/fs/bpf/x' },
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('SterletError');
    expect(err.code).toBe('AGENT_PIN_MISSING');
    expect(err.message).toBe(
      'pinned map /sys/fs/bpf/x is missing: the balancer was detached. Fix: run `sterlet agent` to load it again',
    );
    expect(err.cause).toBe(cause);
    expect(err.hint).toBe('ls /sys/fs/bpf');
    expect(err.toJSON()).toEqual({
      name: 'SterletError',
      code: 'AGENT_PIN_MISSING',
      message: err.message,
      hint: 'ls /sys/fs/bpf',
      details: { path: '/sys/fs/bpf/x' },
      cause: 'ENOENT',
    });
  });

  it('works with only a code and what happened', () => {
    const err = new SterletError('X_FAILED', 'x failed');
    expect(err.message).toBe('x failed');
    expect(err.cause).toBeUndefined();
    expect(err.toJSON()).toEqual({ name: 'SterletError', code: 'X_FAILED', message: 'x failed' });
  });

  it('insists on UPPER_SNAKE_CASE codes', () => {
    expect(() => new SterletError('lower', 'x')).toThrow(TypeError);
    expect(() => new SterletError('A__B', 'x')).toThrow(TypeError);
  });

  it('is recognized by isSterletError, optionally by code', () => {
    const err = new SterletError('A_B', 'x');
    expect(isSterletError(err)).toBe(true);
    expect(isSterletError(err, 'A_B')).toBe(true);
    expect(isSterletError(err, 'C_D')).toBe(false);
    expect(isSterletError(new Error('x'))).toBe(false);
    expect(errorText(new Error('boom'))).toBe('boom');
    expect(errorText(42)).toBe('42');
  });
});
