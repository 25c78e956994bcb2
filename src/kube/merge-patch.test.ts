import { describe, expect, it } from 'vitest';
import { mergePatchFor } from './merge-patch.ts';

describe('mergePatchFor', () => {
  it('sends null for keys that disappear at any depth', () => {
    const current = { nodes: '1/1', compiled: { revision: 'a', announcement: { communities: ['1:1'], localPreference: 150 }, nodeSelector: { matchLabels: { a: 'b' } } } };
    const next = { compiled: { revision: 'b', announcement: { communities: ['1:2'] } } };
    expect(mergePatchFor(current, next)).toEqual({ nodes: null, compiled: { revision: 'b', announcement: { communities: ['1:2'], localPreference: null }, nodeSelector: null } });
  });

  it('replaces arrays and scalars whole and treats undefined members as absent', () => {
    expect(mergePatchFor({ list: [1, 2], x: 1, y: { z: 1 } }, { list: [3], x: undefined, y: 'flat' })).toEqual({ list: [3], x: null, y: 'flat' });
    expect(mergePatchFor(undefined, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
  });
});
