// Docs that contradicted the code: --mtu documented as off by default (it
// defaults to the interface MTU), the gateway MAC as read once at start (it is
// re-resolved before every resync), `sterlet decap --interface` shown without
// its required --local-address.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const files = [
  'README.md',
  ...readdirSync(join(REPO, 'docs')).map((f) => `docs/${f}`),
  ...readdirSync(join(REPO, 'examples')).map((f) => `examples/${f}`),
].filter((f) => /\.(md|ya?ml)$/.test(f));
const text = (f: string): string => readFileSync(join(REPO, f), 'utf8');

describe('docs agree with the code', () => {
  it('no --mtu default of 0 / off', () => {
    const bad = files.filter((f) => /`--mtu` \| 0 \(off\)|--mtu`?, default 0|off unless `--mtu` is set/.test(text(f)));
    expect(bad).toEqual([]);
  });

  it('the gateway MAC is not described as read once at start', () => {
    const bad = files.filter((f) => /gateway MAC once, at start|MAC is read once at start/.test(text(f)));
    expect(bad).toEqual([]);
  });

  it('every `sterlet decap --interface` example passes --local-address', () => {
    const bad = files.flatMap((f) =>
      text(f)
        .split('\n')
        .filter((l) => /sterlet decap --interface/.test(l) && !l.includes('--local-address'))
        .map((l) => `${f}: ${l.trim()}`),
    );
    expect(bad).toEqual([]);
  });
});
