// The one error type Sterlet throws on purpose. Every failure a user can see
// carries a stable `code` (for alerts, docs and tests), a message written as
// "what happened: why. Fix: what to do", the underlying `cause`, and an
// optional `hint` for the next step when the fix needs more words.

export interface SterletErrorOptions {
  /** Why it happened, one sentence. */
  readonly why?: string;
  /** What the user or operator should do about it. */
  readonly fix?: string;
  /** Extra guidance, e.g. a command to run or a doc page. */
  readonly hint?: string;
  /** The lower-level error this one wraps. */
  readonly cause?: unknown;
  /** Structured context for logs (interface name, VIP, path, ...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Codes look like `AGENT_GATEWAY_MAC_UNRESOLVED`: upper snake case. */
const CODE_PATTERN = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

export class SterletError extends Error {
  readonly code: string;
  readonly what: string;
  readonly why: string | undefined;
  readonly fix: string | undefined;
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, what: string, options: SterletErrorOptions = {}) {
    if (!CODE_PATTERN.test(code)) {
      throw new TypeError(`SterletError code must be UPPER_SNAKE_CASE, got ${JSON.stringify(code)}`);
    }
    super(composeMessage(what, options), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SterletError';
    this.code = code;
    this.what = what;
    this.why = options.why;
    this.fix = options.fix;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  /** A plain object for structured logs and API status messages. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    if (this.hint !== undefined) out['hint'] = this.hint;
    if (Object.keys(this.details).length > 0) out['details'] = this.details;
    if (this.cause !== undefined) {
      out['cause'] = this.cause instanceof Error ? this.cause.message : String(this.cause);
    }
    return out;
  }
}

function composeMessage(what: string, options: SterletErrorOptions): string {
  let message = what;
  if (options.why !== undefined) message += `: ${options.why}`;
  if (options.fix !== undefined) message += `. Fix: ${options.fix}`;
  return message;
}

/** True when `err` is a SterletError, optionally with the given code. */
export function isSterletError(err: unknown, code?: string): err is SterletError {
  return err instanceof SterletError && (code === undefined || err.code === code);
}

/** Text of any thrown value, for wrapping foreign errors. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
