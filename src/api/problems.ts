// Problems the compile step reports. Codes are stable (tests, logs, events
// match on them); each maps to the condition reason the controller writes.
import type { ObjectRef } from './meta.ts';

export const ProblemCode = {
  DUPLICATE_VIP: 'DUPLICATE_VIP',
  QUIC_REQUIRES_UDP: 'QUIC_REQUIRES_UDP',
  ADDRESS_NOT_ALLOWED: 'ADDRESS_NOT_ALLOWED',
  NO_BACKENDS: 'NO_BACKENDS',
  FAMILY_MISMATCH: 'FAMILY_MISMATCH',
  DUPLICATE_BACKEND: 'DUPLICATE_BACKEND',
  DUPLICATE_QUIC_SERVER_ID: 'DUPLICATE_QUIC_SERVER_ID',
  BACKEND_NOT_ALLOWED: 'BACKEND_NOT_ALLOWED',
  BACKEND_REF_NOT_FOUND: 'BACKEND_REF_NOT_FOUND',
  HEALTH_CHECK_NO_PORT: 'HEALTH_CHECK_NO_PORT',
} as const;
export type ProblemCode = (typeof ProblemCode)[keyof typeof ProblemCode];

/** Condition reason (CamelCase) for each code. */
export const PROBLEM_REASONS = {
  DUPLICATE_VIP: 'Conflict',
  QUIC_REQUIRES_UDP: 'InvalidSpec',
  ADDRESS_NOT_ALLOWED: 'AddressNotAllowed',
  NO_BACKENDS: 'NoBackends',
  FAMILY_MISMATCH: 'FamilyMismatch',
  DUPLICATE_BACKEND: 'DuplicateBackend',
  DUPLICATE_QUIC_SERVER_ID: 'DuplicateQuicServerId',
  BACKEND_NOT_ALLOWED: 'BackendNotAllowed',
  BACKEND_REF_NOT_FOUND: 'BackendNotFound',
  HEALTH_CHECK_NO_PORT: 'HealthCheckNoPort',
} as const satisfies Record<ProblemCode, string>;

/**
 * What the problem cost: the whole VIP left the state, or one backend was
 * left out of that VIP while the VIP keeps serving with the others.
 */
export const ProblemEffect = {
  VirtualIPExcluded: 'VirtualIPExcluded',
  BackendExcluded: 'BackendExcluded',
} as const;
export type ProblemEffect = (typeof ProblemEffect)[keyof typeof ProblemEffect];

export interface Problem {
  readonly code: ProblemCode;
  readonly reason: (typeof PROBLEM_REASONS)[ProblemCode];
  readonly effect: ProblemEffect;
  /** The object whose field is at fault. */
  readonly object: ObjectRef;
  /** Path of that field, e.g. `spec.address`. */
  readonly field: string;
  /** id (namespace/name) of the VirtualIP affected; its conditions carry the problem. */
  readonly virtualIP: string;
  /** What happened, why, and what to do. */
  readonly message: string;
}
