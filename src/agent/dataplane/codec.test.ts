// Byte layouts of the map codecs (offsets as in bpf/include/structs.h).
import { describe, expect, it } from 'vitest';
import {
  decodeFlowKey,
  decodeLruVal,
  decodeReal,
  decodeVipKey,
  decodeVipMeta,
  encodeFlowKey,
  encodeLruVal,
  encodeReal,
  encodeRing,
  encodeSettings,
  encodeVipKey,
  encodeVipMeta,
  parseMac,
  decodeQuicKey,
  quicKey,
  vipAddressKey,
  vipFlagBits,
} from './codec.ts';
import { flowHash, gueSourcePort, hashHostBits, outerHash } from '../../../test/bpf/harness/hash.ts';
import { LAYOUT_VERSION, VipFlag } from './layout.ts';

describe('dataplane codecs', () => {
  it('lays out a VIP key: address, port (BE), protocol, family', () => {
    const k = encodeVipKey({ address: '10.200.0.10', port: 80, protocol: 'TCP' });
    expect(k.toString('hex')).toBe('0ac8000a' + '00'.repeat(12) + '0050' + '06' + '04');
    expect(decodeVipKey(k)).toEqual({ address: '10.200.0.10', port: 80, protocol: 'TCP' });
    expect(decodeVipKey(encodeVipKey({ address: 'fd00::10', port: 0, protocol: 'UDP' }))).toEqual({ address: 'fd00::10', port: 0, protocol: 'UDP' });
  });

  it('makes address entries with port 0 and protocol 0', () => {
    const k = vipAddressKey('fd00::10');
    expect(k.readUInt16BE(16)).toBe(0);
    expect(k[18]).toBe(0);
    expect(k[19]).toBe(6);
  });

  it('maps VIP settings to flag bits', () => {
    expect(vipFlagBits({ hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' })).toBe(0);
    expect(vipFlagBits({ hash: 'SourceAddress', connectionTracking: false, quic: true, encapsulation: 'GUE' })).toBe(
      VipFlag.hashSource | VipFlag.noLru | VipFlag.quic | VipFlag.gue,
    );
    expect(vipFlagBits({ hash: 'DestinationPort', connectionTracking: true, quic: false, encapsulation: 'IPIP' })).toBe(VipFlag.hashDestinationPort);
    expect(decodeVipMeta(encodeVipMeta(0x21, 7))).toEqual({ flags: 0x21, index: 7 });
  });

  it('marks reals present and v6 ones as v6', () => {
    expect(encodeReal('10.0.1.1').readUInt32LE(16)).toBe(1);
    expect(encodeReal('fc00::1').readUInt32LE(16)).toBe(3);
    expect(decodeReal(encodeReal('fc00::1'))).toEqual({ address: 'fc00::1', present: true });
    expect(decodeReal(Buffer.alloc(20))).toBeUndefined();
  });

  it('round-trips flow keys and LRU values', () => {
    const f = { protocol: 'UDP', src: { address: '2001:db8::7', port: 5353 }, dst: { address: 'fd00::10', port: 53 } } as const;
    const k = encodeFlowKey(f);
    expect(k.length).toBe(40);
    expect(decodeFlowKey(k)).toEqual(f);
    expect(decodeLruVal(encodeLruVal(5, 99))).toEqual({ real: 5, atime: 99 });
  });

  it('keys QUIC server ids by VIP index and validates them', () => {
    const k = quicKey(3, 7);
    expect(k.toString('hex')).toBe('0300000007000000');
    expect(decodeQuicKey(k)).toEqual({ vipIndex: 3, serverId: 7 });
    expect(() => quicKey(0, 0)).toThrow(/out of range/);
    expect(() => quicKey(0, 65536)).toThrow(/out of range/);
  });

  it('writes a whole ring as batch buffers at the VIP base', () => {
    const { keys, values, count } = encodeRing(2, [1, 2, 3]);
    expect(count).toBe(3);
    expect([keys.readUInt32LE(0), keys.readUInt32LE(8)]).toEqual([6, 8]);
    expect(values.readUInt32LE(4)).toBe(2);
  });

  it('lays out settings', () => {
    const b = encodeSettings({
      gatewayMac: 'aa:bb:cc:00:00:01',
      mtu: 1500,
      gueDestinationPort: 6080,
      sourcePrefixV4: { address: '172.16.0.0', hostBits: 16 },
      sourcePrefixV6: { address: 'fc00:ffff::', hostBits: 12 },
      udpTimeout: 56,
    });
    expect(b.readUInt32LE(0)).toBe(LAYOUT_VERSION);
    expect(b.subarray(4, 10).toString('hex')).toBe('aabbcc000001');
    expect([b.readUInt16LE(10), b.readUInt16BE(12), b[14], b[15]]).toEqual([1500, 6080, 16, 12]);
    expect(b.subarray(16, 20).toString('hex')).toBe('ac100000');
    expect(b.subarray(20, 22).toString('hex')).toBe('fc00');
    expect(b.readUInt32LE(36)).toBe(56);
    expect(() => parseMac('aa:bb')).toThrow(/MAC/);
  });

  it('hashes by mode: source-only ignores ports, destination-port-only ignores addresses', () => {
    const key = (src: string, sport: number, dport: number): Buffer =>
      encodeFlowKey({ protocol: 'TCP', src: { address: src, port: sport }, dst: { address: '10.200.0.10', port: dport } });
    expect(flowHash(key('192.0.2.7', 1, 80), VipFlag.hashSource)).toBe(flowHash(key('192.0.2.7', 2, 81), VipFlag.hashSource));
    expect(flowHash(key('192.0.2.7', 1, 80), VipFlag.hashDestinationPort)).toBe(flowHash(key('192.0.2.8', 2, 80), VipFlag.hashDestinationPort));
    expect(flowHash(key('192.0.2.7', 1, 80), 0)).not.toBe(flowHash(key('192.0.2.7', 2, 80), 0));
    expect(hashHostBits(0xdeadbeef, 16)).toBe(0xbeef);
    expect(hashHostBits(0xdeadbeef, 32)).toBe(0xdeadbeef);
    expect(gueSourcePort(0xffffffff)).toBe(0xffff);
  });

  it('takes the outer hash per flow whatever the ring hash mode', () => {
    const key = (sport: number): Buffer => encodeFlowKey({ protocol: 'TCP', src: { address: '192.0.2.7', port: sport }, dst: { address: '10.200.0.10', port: 80 } });
    expect(flowHash(key(1), VipFlag.hashSource)).toBe(flowHash(key(2), VipFlag.hashSource));
    expect(outerHash(key(1))).not.toBe(outerHash(key(2)));
  });
});
