import { isSluiceError, SluiceError } from '../core/errors.ts';
import { classifyError } from '../limiter/classify.ts';
import type { Outcome } from '../limiter/types.ts';

/**
 * What went wrong with a write, and so what to do about it.
 *
 * | kind         | examples                                                        | retry | limiter   |
 * | ------------ | --------------------------------------------------------------- | ----- | --------- |
 * | `timeout`    | `statement_timeout` (57014), `lock_timeout` (55P03), the sink's own `timeout` | yes | `dropped` |
 * | `connection` | refused, reset, terminated, class 08, shutdown (57P01-57P03)      | yes   | `dropped` |
 * | `overload`   | class 53: too many connections, out of memory, disk full          | yes   | `dropped` |
 * | `conflict`   | serialization failure (40001), deadlock (40P01)                   | yes   | `dropped` |
 * | `poison`     | class 22 (data) and 23 (constraints): this row will never fit     | no    | `ignore`  |
 * | `fatal`      | class 42 (no such table or column, privileges), 28, 3D000, 0A000 | no    | `ignore`  |
 * | `unknown`    | anything else                                                     | yes   | `ignore`  |
 *
 * "Retry" is whether writing the same rows again may succeed. The limiter column is the outcome an
 * adaptive consumer's limit should learn: a sink that times out, refuses connections or runs out of
 * resources is overloaded, so intake backs off; bad data says nothing about load.
 */
export type PostgresErrorKind =
  | 'timeout'
  | 'connection'
  | 'overload'
  | 'conflict'
  | 'poison'
  | 'fatal'
  | 'unknown';

const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);

/** Classifies an error from pg (a `DatabaseError` with a SQLSTATE `code`, or a connection error). */
export function postgresErrorKind(error: unknown): PostgresErrorKind {
  if (isPostgresWriteError(error)) return error.kind;
  if (typeof error !== 'object' || error === null) return 'unknown';
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (connectionCodes.has(code)) return 'connection';
    if (/^[0-9A-Z]{5}$/.test(code)) return sqlStateKind(code);
  }
  const text = typeof message === 'string' ? message : '';
  if (/timeout exceeded when trying to connect|query read timeout/i.test(text)) return 'timeout';
  if (/connection terminated|connection error|not queryable|server closed the connection/i.test(text)) {
    return 'connection';
  }
  return 'unknown';
}

function sqlStateKind(state: string): PostgresErrorKind {
  if (state === '57014' || state === '55P03') return 'timeout';
  if (state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03')
    return 'connection';
  if (state.startsWith('53')) return 'overload';
  if (state === '40001' || state === '40P01') return 'conflict';
  if (state.startsWith('22') || state.startsWith('23')) return 'poison';
  if (state.startsWith('42') || state.startsWith('28') || state === '3D000' || state === '0A000')
    return 'fatal';
  return 'unknown';
}

const retryableKinds: ReadonlySet<PostgresErrorKind> = new Set([
  'timeout',
  'connection',
  'overload',
  'conflict',
  'unknown',
]);
const overloadKinds: ReadonlySet<PostgresErrorKind> = new Set([
  'timeout',
  'connection',
  'overload',
  'conflict',
]);

/**
 * A write that failed, classified. `retryable` is what the batcher reads (a `poison` or `fatal` write is
 * not retried); `outcome` is what a limiter should learn (see `classifyPostgresError`).
 */
export class PostgresWriteError extends SluiceError {
  readonly code = 'SLUICE_POSTGRES_WRITE';
  override readonly name = 'PostgresWriteError';
  readonly sink: string;
  readonly kind: PostgresErrorKind;
  readonly retryable: boolean;
  readonly outcome: Outcome;
  /** The SQLSTATE of the database's error, if it had one. */
  readonly sqlState: string | undefined;
  /** Rows the failed write held (1 for a poison row found by splitting the batch). */
  readonly rows: number;

  constructor(sink: string, kind: PostgresErrorKind, rows: number, cause: unknown, detail?: string) {
    const what = cause instanceof Error ? cause.message : String(cause);
    const state = sqlStateOf(cause);
    super(
      `sluice: postgres sink "${sink}" could not write ${rows} row${rows === 1 ? '' : 's'} (${kind}${
        retryableKinds.has(kind) ? ', retryable' : ''
      }): ${detail ?? what}${state === undefined ? '' : ` [${state}]`}`,
      { cause },
    );
    this.sink = sink;
    this.kind = kind;
    this.retryable = retryableKinds.has(kind);
    this.outcome = overloadKinds.has(kind) ? 'dropped' : 'ignore';
    this.sqlState = state;
    this.rows = rows;
  }
}

export function isPostgresWriteError(error: unknown): error is PostgresWriteError {
  return isSluiceError(error) && error.code === 'SLUICE_POSTGRES_WRITE';
}

/**
 * What a limiter should learn from an error of a handler that writes to PostgreSQL: `dropped` for a sink that
 * times out, loses connections, runs out of resources or deadlocks (intake backs off), `ignore` for bad data
 * and mistakes. Errors that are not PostgreSQL's go to `classifyError`.
 *
 * ```ts
 * createRabbitmqConsumer({ ..., classify: classifyPostgresError });
 * ```
 */
export function classifyPostgresError(error: unknown): Outcome {
  if (isPostgresWriteError(error)) return error.outcome;
  const kind = postgresErrorKind(error);
  if (kind === 'unknown') return classifyError(error);
  return overloadKinds.has(kind) ? 'dropped' : 'ignore';
}

function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
