// Helpers that turn libbpf's -errno convention into BpfError.

import { closeSync } from 'node:fs';
import { type BpfCallContext, BpfError } from './errors.ts';
import { clearWarnings, lastErrno } from './ffi.ts';

/** Run an int-returning libbpf call; negative results throw BpfError. */
export function check(call: string, fn: () => number, context?: BpfCallContext): number {
  clearWarnings();
  const ret = fn();
  if (ret < 0) throw new BpfError(call, errnoFrom(ret), context);
  return ret;
}

/** Run a pointer-returning libbpf call; NULL throws BpfError with errno. */
export function checkPtr<T>(call: string, fn: () => T | null, context?: BpfCallContext): T {
  clearWarnings();
  const ptr = fn();
  if (ptr === null || ptr === undefined) throw new BpfError(call, lastErrno() || 22, context);
  return ptr;
}

/** -errno, or -1 with errno set (both conventions appear in libbpf). */
export function errnoFrom(ret: number): number {
  if (ret === -1) {
    const e = lastErrno();
    if (e > 0) return e;
  }
  return -ret;
}

/** Close a file descriptor we own, ignoring EBADF from a double close. */
export function closeFd(fd: number): void {
  if (fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // Already closed; nothing else to release.
  }
}
