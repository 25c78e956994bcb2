// VirtualIPPool: how many VIPs it admits (each VIP's admission recomputed from
// the cache) and which pools it overlaps.

import { z } from 'zod';
import { VirtualIPPool } from '../../api/virtual-ip-pool.ts';
import { poolStatus } from '../pool-status.ts';
import type { ReconcileResult } from '../work.ts';
import { admittingPool, writeStatus, type ReconcileContext } from './context.ts';

export async function reconcilePool(ctx: ReconcileContext, name: string): Promise<ReconcileResult> {
  const { cache } = ctx;
  const raw = cache.pools.get(name);
  if (raw === undefined || raw.metadata.deletionTimestamp !== undefined) return {};
  const parsed = cache.parse(VirtualIPPool, raw);
  if (parsed instanceof z.ZodError) return {};
  let admitted = 0;
  for (const vip of cache.vipList()) {
    if (vip.metadata.deletionTimestamp === undefined && admittingPool(ctx, vip) === name) admitted++;
  }
  const status = poolStatus(parsed, cache.poolList(), admitted, new Date().toISOString());
  await writeStatus(ctx, raw, status, 'VirtualIPPool');
  return {};
}
