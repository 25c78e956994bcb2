// Health checks: how load-balancer nodes probe each (VIP, backend) pair
// through the same tunnel the balancer uses. The VirtualIP carries the check,
// a Backend may override where and how it is probed, and the compiled state
// carries the resolved form (every default filled in) to the agents.
import { z } from 'zod';

export const HealthCheckType = z.enum(['TCP', 'HTTP', 'None']);
export type HealthCheckType = z.infer<typeof HealthCheckType>;

/** Defaults of every optional field; the type's default depends on the VIP (see resolveHealthCheck). */
export const HEALTH_CHECK_DEFAULTS = {
  path: '/',
  intervalSeconds: 5,
  timeoutSeconds: 2,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  expectedStatus: { min: 200, max: 399 },
} as const satisfies {
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  expectedStatus: { min: number; max: number };
};

const port = (description: string) => z.int().min(1).max(65535).meta({ description });
const httpPath = (description: string) =>
  z
    .string()
    .min(1)
    .max(1024)
    .regex(/^\/[\x21-\x7e]*$/, 'must start with / and hold printable ASCII without spaces')
    .meta({ description });

const TIMEOUT_RULE = {
  rule: '!has(self.timeoutSeconds) || !has(self.intervalSeconds) || self.timeoutSeconds < self.intervalSeconds',
  message: 'timeoutSeconds must be smaller than intervalSeconds (a probe must end before the next one starts)',
  fieldPath: '.timeoutSeconds',
  reason: 'FieldValueInvalid',
};
const PATH_RULE = {
  rule: "!has(self.path) || (has(self.type) && self.type == 'HTTP')",
  message: 'path is only used by type: HTTP; remove it or set type: HTTP',
  fieldPath: '.path',
  reason: 'FieldValueForbidden',
};
const STATUS_RULE = {
  rule: "!has(self.expectedStatus) || (has(self.type) && self.type == 'HTTP')",
  message: 'expectedStatus is only used by type: HTTP; remove it or set type: HTTP',
  fieldPath: '.expectedStatus',
  reason: 'FieldValueForbidden',
};

const ExpectedStatus = z
  .strictObject({
    min: z.int().min(100).max(599).meta({ description: 'Lowest HTTP status that counts as healthy, 100-599.' }),
    max: z.int().min(100).max(599).meta({ description: 'Highest HTTP status that counts as healthy, 100-599.' }),
  })
  .refine((s) => s.min <= s.max, { message: 'min must not exceed max', path: ['min'] })
  .meta({
    description: 'HTTP statuses that count as healthy, inclusive. Default 200-399.',
    'x-kubernetes-validations': [{ rule: 'self.min <= self.max', message: 'min must not exceed max', fieldPath: '.min' }],
  });

export const HealthCheckSpec = z
  .strictObject({
    type: HealthCheckType.optional().meta({
      description:
        'TCP (a connect), HTTP (a GET; healthy when the status is in expectedStatus) or None (no checks: every backend counts as healthy). Default: TCP for TCP VIPs with a port, None otherwise.',
    }),
    port: port(
      'Port probed on the backend, behind the VIP address (the probe travels through the tunnel to VIP:port). Default: the VIP port; required for port-less VIPs.',
    ).optional(),
    path: httpPath('HTTP request path (type HTTP only). Default /.').optional(),
    expectedStatus: ExpectedStatus.optional(),
    intervalSeconds: z
      .int()
      .min(1)
      .max(300)
      .default(HEALTH_CHECK_DEFAULTS.intervalSeconds)
      .meta({ description: 'Seconds between probes of one backend, 1-300. Default 5.' }),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(299)
      .default(HEALTH_CHECK_DEFAULTS.timeoutSeconds)
      .meta({ description: 'Seconds a probe may take before it counts as failed; less than intervalSeconds. Default 2.' }),
    healthyThreshold: z
      .int()
      .min(1)
      .max(10)
      .default(HEALTH_CHECK_DEFAULTS.healthyThreshold)
      .meta({ description: 'Consecutive successes that make an unhealthy backend healthy again, 1-10. Default 2.' }),
    unhealthyThreshold: z
      .int()
      .min(1)
      .max(10)
      .default(HEALTH_CHECK_DEFAULTS.unhealthyThreshold)
      .meta({ description: 'Consecutive failures that make a healthy backend unhealthy, 1-10. Default 3.' }),
  })
  .refine((h) => h.timeoutSeconds < h.intervalSeconds, {
    message: TIMEOUT_RULE.message,
    path: ['timeoutSeconds'],
  })
  .refine((h) => h.path === undefined || h.type === 'HTTP', { message: PATH_RULE.message, path: ['path'] })
  .refine((h) => h.expectedStatus === undefined || h.type === 'HTTP', { message: STATUS_RULE.message, path: ['expectedStatus'] })
  .meta({
    description:
      'How every load-balancer node probes each backend through the tunnel (encapsulated exactly like balanced traffic, to VIP:port on the backend). An unhealthy backend gets no new flows; established flows stay.',
    'x-kubernetes-validations': [TIMEOUT_RULE, PATH_RULE, STATUS_RULE],
  });
export type HealthCheckSpec = z.infer<typeof HealthCheckSpec>;

/** Backend spec.healthCheck: where and how this backend is probed, over the VIP's check. */
export const BackendHealthCheck = z
  .strictObject({
    type: HealthCheckType.optional().meta({
      description: "Overrides the VIP's type for this backend; None exempts it (always counts as healthy).",
    }),
    port: port("Overrides the probed port (the VIP's healthCheck.port, else the VIP port).").optional(),
    path: httpPath("Overrides the HTTP path of the VIP's check.").optional(),
  })
  .meta({ description: "Per-backend override of the health check of every VirtualIP that selects this Backend." });
export type BackendHealthCheck = z.infer<typeof BackendHealthCheck>;

/** A check with every default resolved: what agents run. Absent from the compiled state = no checks. */
export const CompiledHealthCheck = z
  .strictObject({
    type: z.enum(['TCP', 'HTTP']).meta({ description: 'TCP connect or HTTP GET.' }),
    port: z.int().min(1).max(65535).meta({ description: 'Port probed behind the VIP address.' }),
    path: z.string().max(1024).optional().meta({ description: 'HTTP path (HTTP only).' }),
    expectedStatus: z
      .strictObject({
        min: z.int().min(100).max(599).meta({ description: 'Lowest healthy status.' }),
        max: z.int().min(100).max(599).meta({ description: 'Highest healthy status.' }),
      })
      .optional()
      .meta({ description: 'Healthy HTTP statuses, inclusive (HTTP only).' }),
    intervalSeconds: z.int().min(1).max(300).meta({ description: 'Seconds between probes.' }),
    timeoutSeconds: z.int().min(1).max(299).meta({ description: 'Probe timeout in seconds.' }),
    healthyThreshold: z.int().min(1).max(10).meta({ description: 'Successes to become healthy.' }),
    unhealthyThreshold: z.int().min(1).max(10).meta({ description: 'Failures to become unhealthy.' }),
  })
  .meta({ description: 'The health check as agents run it, defaults resolved.' });
export type CompiledHealthCheck = z.infer<typeof CompiledHealthCheck>;

interface VipFacts {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
}

/**
 * The check a VIP's backends get, or undefined for none: the VIP's spec with
 * defaults, then the backend's override. Returns a string when the result is
 * unusable (a port-less VIP whose check names no port), for the caller to report.
 */
export function resolveHealthCheck(
  vip: VipFacts,
  spec: HealthCheckSpec | undefined,
  override?: BackendHealthCheck,
): CompiledHealthCheck | undefined | string {
  const defaultType = vip.protocol === 'TCP' && vip.port !== 0 ? 'TCP' : 'None';
  const type = override?.type ?? spec?.type ?? (spec === undefined ? defaultType : 'TCP');
  if (type === 'None') return undefined;
  const port = override?.port ?? spec?.port ?? vip.port;
  if (port === 0) return 'the VIP has no port (port 0), so spec.healthCheck.port must name the port to probe';
  const out: CompiledHealthCheck = {
    type,
    port,
    intervalSeconds: spec?.intervalSeconds ?? HEALTH_CHECK_DEFAULTS.intervalSeconds,
    timeoutSeconds: spec?.timeoutSeconds ?? HEALTH_CHECK_DEFAULTS.timeoutSeconds,
    healthyThreshold: spec?.healthyThreshold ?? HEALTH_CHECK_DEFAULTS.healthyThreshold,
    unhealthyThreshold: spec?.unhealthyThreshold ?? HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
  };
  if (type === 'HTTP') {
    out.path = override?.path ?? spec?.path ?? HEALTH_CHECK_DEFAULTS.path;
    const s = spec?.expectedStatus ?? HEALTH_CHECK_DEFAULTS.expectedStatus;
    out.expectedStatus = { min: s.min, max: s.max };
  }
  return out;
}
