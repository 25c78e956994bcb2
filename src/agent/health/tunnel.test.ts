import { describe, expect, it } from 'vitest';
import { encodeHcReal, encodeHcSettings, MARK_BASE, MarkTable, probeSource } from './tunnel.ts';

describe('probe tunnel marks and encodings', () => {
  it('keeps a real\'s mark while it is wanted and reuses freed marks', () => {
    const t = new MarkTable();
    const a = { address: '10.0.1.11', encapsulation: 'IPIP' as const };
    const b = { address: '10.0.1.12', encapsulation: 'IPIP' as const };
    const c = { address: '10.0.1.11', encapsulation: 'GUE' as const };
    expect(t.sync([a, b]).added.map((x) => x.mark)).toEqual([MARK_BASE, MARK_BASE + 1]);
    expect(t.sync([b, c])).toEqual({ added: [{ mark: MARK_BASE + 2, real: c }], removed: [MARK_BASE] });
    expect(t.markFor(b)).toBe(MARK_BASE + 1);
    expect(t.markFor(a)).toBeUndefined();
    expect(t.size).toBe(2);
  });

  it('encodes struct hc_real and hc_settings as bpf/include/healthcheck.h lays them out', () => {
    expect(encodeHcReal({ address: '10.0.1.11', encapsulation: 'GUE' }).toString('hex')).toBe('0a00010b' + '00'.repeat(12) + '02000000');
    expect(encodeHcReal({ address: 'fd00::1', encapsulation: 'IPIP' }).readUInt32LE(16)).toBe(1);
    const s = encodeHcSettings({ sourceV4: '172.16.0.1', sourceV6: 'fd00:5354::1', gueDestinationPort: 6080 });
    expect(s.length).toBe(24);
    expect(s.subarray(0, 4).toString('hex')).toBe('ac100001');
    expect(s.readUInt16BE(20)).toBe(6080);
  });

  it('uses host part 1 of the outer source prefix', () => {
    expect(probeSource({ address: '172.16.0.0', hostBits: 16 })).toBe('172.16.0.1');
    expect(probeSource({ address: 'fd00:5354::', hostBits: 32 })).toBe('fd00:5354::1');
    expect(probeSource({ address: '192.0.2.7', hostBits: 0 })).toBe('192.0.2.7');
  });
});
