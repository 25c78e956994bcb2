// vip_slots: the VIPs of the `vips` map again, indexed by VIP index (struct
// vip_slot). A connection-table entry carries the index of the VIP it was
// created for; a hit forwards with the slot's flags, without a `vips` lookup,
// only while the slot still serves the flow (bpf/balancer.bpf.c,
// forward_cached). So the slots must never claim more than `vips` does: a
// removed VIP's slot is cleared before its key leaves `vips`, and a port-0 VIP
// is marked shadowed while an exact-port VIP shares its address and protocol
// (the VIP lookup would pick that one). Rebuilt whole from `vips` after every
// change: at most max VIPs entries of 24 bytes.

import type { BpfMap } from '../../libbpf/libbpf.ts';
import { decodeVipKey, decodeVipMeta, encodeAddr, u32 } from './codec.ts';
import { IpProto, SLOT_F_SHADOWED, Size } from './layout.ts';

interface SlotVip {
  readonly address: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly flags: number;
  readonly index: number;
}

/** struct vip_slot of one VIP. */
export function encodeVipSlot(v: SlotVip, shadowed: boolean): Buffer {
  const { bytes, family } = encodeAddr(v.address);
  const b = Buffer.alloc(Size.vipSlot);
  bytes.copy(b, 0);
  b.writeUInt16BE(v.port, 16);
  b.writeUInt8(IpProto[v.protocol], 18);
  b.writeUInt8(family, 19);
  b.writeUInt32LE((v.flags | (shadowed ? SLOT_F_SHADOWED : 0)) >>> 0, 20);
  return b;
}

/** The VIPs (not address entries) in a `vips` map. */
function vipsOf(vips: BpfMap): SlotVip[] {
  const out: SlotVip[] = [];
  for (const [k, v] of vips.entries()) {
    const key = decodeVipKey(k);
    if (key.protocol === undefined) continue;
    const meta = decodeVipMeta(v);
    out.push({ address: key.address, port: key.port, protocol: key.protocol, flags: meta.flags, index: meta.index });
  }
  return out;
}

/** Every slot value (index -> bytes) for this VIP set; indices without a VIP are all zero. */
export function slotValues(list: readonly SlotVip[], maxVips: number): Buffer {
  const exact = new Set(list.filter((v) => v.port !== 0).map((v) => `${v.address}/${v.protocol}`));
  const out = Buffer.alloc(maxVips * Size.vipSlot);
  for (const v of list) {
    if (v.index >= maxVips) continue;
    encodeVipSlot(v, v.port === 0 && exact.has(`${v.address}/${v.protocol}`)).copy(out, v.index * Size.vipSlot);
  }
  return out;
}

/** Rewrites every slot from the current `vips` map. */
export function syncVipSlots(vips: BpfMap, slots: BpfMap): void {
  const n = slots.maxEntries;
  const keys = Buffer.concat(Array.from({ length: n }, (_, i) => u32(i)));
  slots.updateBatch(keys, slotValues(vipsOf(vips), n), n);
}

/** Clears the slots of VIP indices about to leave `vips` (before the delete, so no hit trusts them after it). */
export function clearVipSlots(slots: BpfMap, indices: readonly number[]): void {
  const keep = indices.filter((i) => i < slots.maxEntries);
  if (keep.length === 0) return;
  const zero = Buffer.alloc(Size.vipSlot);
  slots.updateBatch(Buffer.concat(keep.map((i) => u32(i))), Buffer.concat(keep.map(() => zero)), keep.length);
}
