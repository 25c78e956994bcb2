import { afterEach, describe, expect, it } from 'vitest';
import { ControllerMetrics, type MetricsServer, serveMetrics } from './metrics.ts';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('controller metrics endpoint', () => {
  it('serves the controller metrics, /healthz and a /readyz that follows the caches', async () => {
    const metrics = new ControllerMetrics();
    let ready = false;
    server = await serveMetrics('127.0.0.1:0', metrics, () => ready);
    const base = `http://${server.address}`;
    metrics.reconciles.inc({ kind: 'VirtualIP', result: 'success' });
    metrics.queueDepth.set(3);
    metrics.leader.set(1);
    metrics.reconcileSeconds.observe({ kind: 'VirtualIP' }, 0.004);
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(body).toContain('sterlet_controller_reconcile_total{kind="VirtualIP",result="success"} 1');
    expect(body).toContain('sterlet_controller_queue_depth 3');
    expect(body).toContain('sterlet_controller_leader 1');
    expect(body).toContain('sterlet_controller_reconcile_duration_seconds_bucket');
    expect(body).toContain('sterlet_controller_vip_conflicts');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('counts selected and programmed nodes per VIP, and forgets a deleted VIP', async () => {
    const metrics = new ControllerMetrics();
    metrics.setVipNodes('shop/web', { selected: 3, programmed: 2 });
    let body = await metrics.registry.metrics();
    expect(body).toContain('sterlet_controller_vip_nodes{namespace="shop",name="web",state="selected"} 3');
    expect(body).toContain('sterlet_controller_vip_nodes{namespace="shop",name="web",state="programmed"} 2');
    metrics.setVipNodes('shop/web', undefined);
    body = await metrics.registry.metrics();
    expect(body).not.toContain('name="web"');
  });

  it('refuses an address that is not host:port with a stable code', async () => {
    await expect(serveMetrics('8080', new ControllerMetrics(), () => true)).rejects.toMatchObject({ code: 'CONTROLLER_METRICS_ADDR_INVALID' });
  });
});
