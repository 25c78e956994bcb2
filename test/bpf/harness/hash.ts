// Test oracle: the balancer's flow hash (bpf/include/hash.h) reproduced from a
// flow key, so fixtures can predict which ring slot, outer source and GUE port
// a flow gets. Words are little-endian loads of the key.

import { Family, Size, VipFlag } from '../../../src/agent/dataplane/layout.ts';

const SEED = 0x5354524c;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h = (h ^ k) >>> 0;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function final(h: number, nwords: number): number {
  h = (h ^ (nwords * 4)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of an encoded struct flow_key under a VIP's flags (VIP_F_HASH_*). */
export function flowHash(flowKey: Buffer, vipFlags: number): number {
  if (flowKey.length !== Size.flowKey) throw new RangeError(`flow key must be ${Size.flowKey} bytes`);
  let h = SEED;
  if (vipFlags & VipFlag.hashDestinationPort) return final(mix(h, flowKey.readUInt16LE(34)), 1);
  const words = flowKey.readUInt8(37) === Family.IPv4 ? 1 : 4;
  for (let i = 0; i < words; i++) h = mix(h, flowKey.readUInt32LE(i * 4));
  if (vipFlags & VipFlag.hashSource) return final(h, words);
  for (let i = 0; i < words; i++) h = mix(h, flowKey.readUInt32LE(16 + i * 4));
  h = mix(h, flowKey.readUInt32LE(32));
  h = mix(h, flowKey.readUInt8(36));
  return final(h, words * 2 + 2);
}

/**
 * Hash of a flow's outer headers (outer source host bits, GUE source port,
 * IPv6 flow label): outer_hash() in hash.h, a one-word fold of the five-tuple
 * with two multiply/shift rounds, per flow whatever the VIP's ring hash mode,
 * so a backend's RSS spreads flows of SourceAddress / DestinationPort VIPs.
 */
export function outerHash(flowKey: Buffer): number {
  if (flowKey.length !== Size.flowKey) throw new RangeError(`flow key must be ${Size.flowKey} bytes`);
  let s = 0;
  let d = 0;
  for (let i = 0; i < 4; i++) {
    s ^= flowKey.readUInt32LE(i * 4);
    d ^= flowKey.readUInt32LE(16 + i * 4);
  }
  let x = (s ^ rotl(d >>> 0, 16) ^ flowKey.readUInt32LE(32) ^ (flowKey.readUInt8(36) << 8)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Ring slot (within the VIP's ring) a hash selects. */
export function ringSlot(hash: number, ringSize: number): number {
  return hash % ringSize;
}

/** Low `bits` bits of the hash, as the outer source uses them. */
export function hashHostBits(hash: number, bits: number): number {
  return bits >= 32 ? hash >>> 0 : (hash & ((1 << bits) - 1)) >>> 0;
}

/** GUE UDP source port of a flow. */
export function gueSourcePort(hash: number): number {
  return 0xc000 | ((hash >>> 16) & 0x3fff);
}

/** IPv6 outer flow label of a flow. */
export function outerFlowLabel(hash: number): number {
  return hash & 0xfffff;
}
