// Entry for a controller child process in tests (settings from CTL_* env).
import { runController } from '../../../src/controller/main.ts';

const env = process.env;
await runController({
  kubeconfig: env['KUBECONFIG'],
  leaseNamespace: env['CTL_LEASE_NAMESPACE'],
  leaseName: env['CTL_LEASE_NAME'],
  leaseDurationSeconds: Number(env['CTL_LEASE_DURATION'] ?? '15'),
  identity: env['CTL_IDENTITY'],
  metricsAddr: env['CTL_METRICS_ADDR'] ?? '127.0.0.1:0',
  logLevel: env['CTL_LOG_LEVEL'] ?? 'info',
});
