import { describe, expect, it } from 'vitest';
import { backendNames, painter, spreadNote, statsNote } from '../../scripts/demo-explain.ts';

describe('demo explanations', () => {
  it('maps each backend\'s HTTP name, Backend object and address onto one line', () => {
    const text = backendNames(
      [{ name: 'backend-1', netns: 'stl-1-be1', address: '10.0.1.11' }, { name: 'backend-2', netns: 'stl-1-be2', address: '10.0.1.12' }],
      [{ name: 'web-2', address: '10.0.1.12' }, { name: 'web-1', address: '10.0.1.11' }],
    );
    expect(text.split('\n')).toEqual([
      '  backend-1  = Backend web-1  = 10.0.1.11  (network namespace stl-1-be1)',
      '  backend-2  = Backend web-2  = 10.0.1.12  (network namespace stl-1-be2)',
    ]);
  });

  it('says what spread 100 requests over 3 backends should show (a 39/25/36 split is inside it)', () => {
    const note = spreadNote(100, 3);
    expect(note).toContain('3 equal backends get 33 ± 5 each (95% of runs: 24..43)');
    for (const n of [39, 25, 36]) expect(n >= 24 && n <= 43).toBe(true);
  });

  it('explains the packet count (client -> VIP only, DSR) and "passed"', () => {
    const note = statsNote(100);
    expect(note).toContain('~500 for 100');
    expect(note).toContain('DSR');
    expect(note).toContain('"passed" counts packets that are not for a VIP');
  });

  it('writes colour codes only to a terminal', () => {
    expect(painter({ isTTY: false }, {})('36', 'x')).toBe('x');
    expect(painter({ isTTY: true }, { NO_COLOR: '1' })('36', 'x')).toBe('x');
    expect(painter({ isTTY: true }, {})('36', 'x')).toBe('\x1b[36mx\x1b[0m');
  });
});
