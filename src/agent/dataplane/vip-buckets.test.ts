// vip_buckets contents from a vips set: one key per bucket is mirrored with
// its meta, a bucket two keys share is marked for the vips lookup. That the
// bucket function equals the program's is shown by the bpf fixtures (every
// VIP there is found through its bucket).
import { describe, expect, it } from 'vitest';
import { encodeVipKey, encodeVipMeta } from './codec.ts';
import { Size, VIP_BUCKET_BITS, VipBucketState, VipFlag } from './layout.ts';
import { bucketValues, vipBucketOf } from './vip-buckets.ts';

const state = (values: Buffer, bucket: number): number => values.readUInt32LE(bucket * Size.vipBucket + Size.vipKey + Size.vipMeta);

describe('vip buckets', () => {
  it('spreads keys over all buckets', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 4096; i++) seen.add(vipBucketOf(encodeVipKey({ address: `10.${i >> 8}.${i & 0xff}.1`, port: 80, protocol: 'TCP' })));
    for (const b of seen) expect(b).toBeLessThan(1 << VIP_BUCKET_BITS);
    // 4096 keys into 4096 buckets: about 1 - 1/e of the buckets filled for a uniform hash.
    expect(seen.size).toBeGreaterThan(0.55 * 4096);
  });

  it('mirrors a lone key with its meta and marks a shared bucket for the vips lookup', () => {
    const a = encodeVipKey({ address: '10.200.0.10', port: 80, protocol: 'TCP' });
    let b: Buffer | undefined;
    for (let i = 0; b === undefined; i++) {
      const k = encodeVipKey({ address: `10.201.${i >> 8}.${i & 0xff}`, port: 80, protocol: 'TCP' });
      if (vipBucketOf(k) === vipBucketOf(a)) b = k;
    }
    const lone = encodeVipKey({ address: 'fd00::10', port: 443, protocol: 'UDP' });
    const values = bucketValues([
      [a, encodeVipMeta(0, 1)],
      [b, encodeVipMeta(0, 2)],
      [lone, encodeVipMeta(VipFlag.gue, 3)],
    ]);
    expect(values.length).toBe((1 << VIP_BUCKET_BITS) * Size.vipBucket);
    expect(state(values, vipBucketOf(a))).toBe(VipBucketState.many);
    const at = vipBucketOf(lone) * Size.vipBucket;
    expect(values.subarray(at, at + Size.vipBucket)).toEqual(Buffer.concat([lone, encodeVipMeta(VipFlag.gue, 3), Buffer.from([VipBucketState.one, 0, 0, 0])]));
    const used = new Set([vipBucketOf(a), vipBucketOf(lone)]);
    for (let i = 0; i < 1 << VIP_BUCKET_BITS; i++) if (!used.has(i)) expect(state(values, i)).toBe(VipBucketState.empty);
  });
});

