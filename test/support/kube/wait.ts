// Polling with a deadline and a message that says what never happened.

export interface WaitOptions {
  /** What is awaited, for the timeout message ("VirtualIP web Programmed"). */
  readonly what: string;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Calls fn until it returns a value other than undefined/false, and returns it.
 * Errors thrown by fn count as "not yet"; the last one is quoted on timeout.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`K8S_WAIT_TIMEOUT: ${options.what} did not happen within ${String(timeoutMs)} ms${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
