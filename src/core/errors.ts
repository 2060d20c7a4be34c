/**
 * Errors carry a stable `code` and data, not just text. A brand (a registered symbol) makes the guards work
 * across two copies of the library in one process.
 */

const brand = Symbol.for('sluice.error');

export abstract class SluiceError extends Error {
  abstract readonly code: string;
  readonly [brand] = true;
}

/** True for any error thrown by sluice (from any copy of the package). */
export function isSluiceError(error: unknown): error is SluiceError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[brand] === true;
}

/** Invalid configuration: thrown at construction, naming the option, the value and what is allowed. */
export class ConfigError extends SluiceError {
  readonly code = 'SLUICE_CONFIG';
  override readonly name = 'ConfigError';
  readonly option: string;
  readonly value: unknown;
  readonly expected: string;

  constructor(option: string, value: unknown, expected: string) {
    super(`sluice: option "${option}" must be ${expected}, got ${describe(value)}`);
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

export function isConfigError(error: unknown): error is ConfigError {
  return isSluiceError(error) && error.code === 'SLUICE_CONFIG';
}

/** Why a request was not admitted. */
export type RejectReason =
  /** The limit was reached and the caller did not wait (tryAcquire, or a queue of size 0). */
  | 'limit'
  /** The queue was full and this request was the one to go (the newest, the oldest or the least important). */
  | 'queue-full'
  /** The request waited longer than the queue allows (its timeout, or the CoDel target under a standing queue). */
  | 'queue-timeout'
  /** The request's own deadline passed, or could not be met, before it was admitted. */
  | 'deadline'
  /** The caller's AbortSignal fired while it waited. */
  | 'aborted'
  /** Its partition was at its share and nothing could be borrowed. */
  | 'partition'
  /** A load-shedding policy refused it (a throttle, a breaker, a pressure level). */
  | 'shed';

const rejectCodes = {
  limit: 'SLUICE_LIMIT',
  'queue-full': 'SLUICE_QUEUE_FULL',
  'queue-timeout': 'SLUICE_QUEUE_TIMEOUT',
  deadline: 'SLUICE_DEADLINE',
  aborted: 'SLUICE_ABORTED',
  partition: 'SLUICE_PARTITION',
  shed: 'SLUICE_SHED',
} as const satisfies Record<RejectReason, string>;

export interface RejectionDetails {
  /** The limit in force when the request was rejected. */
  readonly limit: number;
  /** Permits held (weighted) when the request was rejected. */
  readonly inflight: number;
  /** Waiters in the queue when the request was rejected. */
  readonly queued: number;
  /** Suggested wait before trying again, in milliseconds (for Retry-After). */
  readonly retryAfterMs: number;
  /** Priority of the rejected request (0 is the most important). */
  readonly priority?: number;
  /** Partition of the rejected request, if partitioned. */
  readonly partition?: string;
  /** Time spent waiting before the rejection, in milliseconds. */
  readonly waitedMs?: number;
}

/** A request was refused admission. `reason` says why; `retryAfterMs` says when to come back. */
export class RejectedError extends SluiceError {
  override readonly name = 'RejectedError';
  readonly code: (typeof rejectCodes)[RejectReason];
  readonly reason: RejectReason;
  readonly limit: number;
  readonly inflight: number;
  readonly queued: number;
  readonly retryAfterMs: number;
  readonly priority: number | undefined;
  readonly partition: string | undefined;
  readonly waitedMs: number;

  constructor(reason: RejectReason, details: RejectionDetails, message?: string) {
    super(message ?? rejectionMessage(reason, details));
    this.code = rejectCodes[reason];
    this.reason = reason;
    this.limit = details.limit;
    this.inflight = details.inflight;
    this.queued = details.queued;
    this.retryAfterMs = details.retryAfterMs;
    this.priority = details.priority;
    this.partition = details.partition;
    this.waitedMs = details.waitedMs ?? 0;
  }
}

export function isRejectedError(error: unknown): error is RejectedError {
  return (
    isSluiceError(error) && typeof (error as RejectedError).reason === 'string' && 'retryAfterMs' in error
  );
}

function rejectionMessage(reason: RejectReason, d: RejectionDetails): string {
  const where = d.partition === undefined ? '' : ` in partition "${d.partition}"`;
  const state = `(limit ${round(d.limit)}, in flight ${round(d.inflight)}, queued ${d.queued})`;
  const waited = d.waitedMs ? ` after waiting ${round(d.waitedMs)} ms` : '';
  const retry = `; retry after ${Math.ceil(d.retryAfterMs)} ms`;
  switch (reason) {
    case 'limit':
      return `sluice: concurrency limit reached${where} ${state}${retry}`;
    case 'queue-full':
      return `sluice: queue full${where} ${state}${retry}`;
    case 'queue-timeout':
      return `sluice: timed out in queue${where}${waited} ${state}${retry}`;
    case 'deadline':
      return `sluice: deadline passed before admission${where}${waited} ${state}${retry}`;
    case 'aborted':
      return `sluice: aborted while waiting${where}${waited} ${state}`;
    case 'partition':
      return `sluice: partition "${d.partition}" is at its share and none can be borrowed ${state}${retry}`;
    case 'shed':
      return `sluice: shed by policy${where} ${state}${retry}`;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
