import { describe, expect, it } from 'vitest';
import { parseFlags, usage, type FlagSpec } from './args.ts';

const specs: FlagSpec[] = [
  { name: 'interface', type: 'string', help: 'if', required: true, short: 'i' },
  { name: 'ring-size', type: 'number', help: 'ring', default: 65537 },
  { name: 'json', type: 'boolean', help: 'json', short: 'j' },
  { name: 'local-address', type: 'list', help: 'addr' },
];

describe('parseFlags', () => {
  it('reads --a b, --a=b, booleans, lists and defaults', () => {
    const f = parseFlags('x', ['--interface', 'eth0', '--json', '--local-address=10.0.0.1', '--local-address', 'fd00::1'], specs, {});
    expect(f.str('interface')).toBe('eth0');
    expect(f.num('ring-size')).toBe(65537);
    expect(f.bool('json')).toBe(true);
    expect(f.list('local-address')).toEqual(['10.0.0.1', 'fd00::1']);
  });

  it('reads short flags as their long form: -i eth0, -i=eth0, -j', () => {
    const f = parseFlags('x', ['-i', 'eth0', '-j'], specs, {});
    expect(f.str('interface')).toBe('eth0');
    expect(f.bool('json')).toBe(true);
    expect(parseFlags('x', ['-i=eth1'], specs, {}).str('interface')).toBe('eth1');
    expect(() => parseFlags('x', ['-i', 'a', '-q'], specs, {})).toThrow(/unknown flag -q/);
    expect(usage('x', 'y', specs)).toMatch(/-i, --interface\s+if/);
  });

  it('falls back to STERLET_<FLAG> environment variables', () => {
    const f = parseFlags('x', [], specs, { STERLET_INTERFACE: 'veth1', STERLET_RING_SIZE: '13', STERLET_LOCAL_ADDRESS: '10.0.0.1,10.0.0.2' });
    expect(f.str('interface')).toBe('veth1');
    expect(f.num('ring-size')).toBe(13);
    expect(f.list('local-address')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(f.bool('json')).toBe(false);
  });

  it('rejects unknown, missing, repeated and malformed flags with CLI_USAGE', () => {
    const bad = (argv: string[]): unknown => {
      try {
        parseFlags('x', argv, specs, {});
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(bad(['--interface', 'a', '--nope'])).toMatchObject({ code: 'CLI_USAGE', message: expect.stringContaining('unknown flag --nope') });
    expect(bad([])).toMatchObject({ code: 'CLI_USAGE', message: expect.stringContaining('--interface is required') });
    expect(bad(['--interface', 'a', '--interface', 'b'])).toMatchObject({ code: 'CLI_USAGE' });
    expect(bad(['--interface', 'a', '--ring-size', 'big'])).toMatchObject({ message: expect.stringContaining('must be a number') });
    expect(bad(['--interface'])).toMatchObject({ message: expect.stringContaining('needs a value') });
    expect(bad(['--interface', 'a', 'stray'])).toMatchObject({ message: expect.stringContaining('unexpected argument') });
  });
});
