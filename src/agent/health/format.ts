// The health part of `sterlet stats`: per VIP, each probed backend's health
// as the ring uses it, its last failure, and whether the VIP fails open.

import type { HealthFile } from './snapshot-file.ts';

export function formatHealth(h: HealthFile): string {
  const lines = [`health (agent pid ${h.pid}, written ${h.writtenAt}; probes ${h.probes}, missed intervals ${h.missed})`];
  if (h.vips.length === 0) lines.push('  no health-checked VIPs');
  for (const vip of h.vips) {
    const healthy = vip.backends.filter((b) => b.healthy).length;
    lines.push(`  ${vip.id}: ${healthy}/${vip.backends.length} healthy${vip.failOpen ? ' — FAIL OPEN: every backend is unhealthy, all kept in the ring' : ''}`);
    for (const b of vip.backends) {
      const state = b.healthy ? (b.probedHealthy ? 'healthy' : 'healthy (failing, not yet applied)') : b.probedHealthy ? 'unhealthy (recovering, not yet applied)' : 'UNHEALTHY';
      const err = b.lastError === undefined ? '' : `  last failure: ${b.lastError}`;
      lines.push(`    ${(b.name ?? b.backend).padEnd(20)} ${b.backend.padEnd(16)} ${state.padEnd(12)} since ${b.since}  probes ${b.probes}${err}`);
    }
  }
  return lines.join('\n');
}
