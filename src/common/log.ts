// One logger factory for every Sterlet process: pino JSON lines on stdout
// (or a given stream), level names instead of numbers, ISO timestamps, and
// the level from the option, else STERLET_LOG_LEVEL, else "info".

import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import { SterletError } from './errors.ts';

export type { Logger } from 'pino';

/** The logging Sterlet's modules take: what they call on a pino Logger (which satisfies it), so tests can pass a recorder. */
export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_LEVEL_ENV = 'STERLET_LOG_LEVEL';

export interface LoggerOptions {
  /** Component name, e.g. "agent" or "controller". */
  readonly name?: string;
  readonly level?: string;
  /** Where lines go; defaults to stdout. */
  readonly destination?: DestinationStream;
  /** Fields on every line (node name, version, ...). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Environment to read the level from; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const level = resolveLevel(options.level ?? env[LOG_LEVEL_ENV], options.level === undefined ? LOG_LEVEL_ENV : 'level');
  const config = {
    level,
    ...(options.name === undefined ? {} : { name: options.name }),
    base: { ...options.base },
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

function resolveLevel(raw: string | undefined, source: string): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  const level = raw.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new SterletError('LOG_BAD_LEVEL', `log level ${JSON.stringify(raw)} from ${source} is not known`, {
    why: `pino understands ${LOG_LEVELS.join(', ')}`,
    fix: `set ${source} to one of those`,
  });
}
