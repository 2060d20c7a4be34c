import { type Clock, systemClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Collector, Readings } from '../types.ts';
import { CollectorError, isCollectorError } from './errors.ts';

/** A collector that reads its source over the network: `collect` always returns a promise. */
export interface AsyncCollector extends Collector {
  collect(signal: AbortSignal): Promise<Readings>;
}

/** A collector that reads in-process state: `collect` returns at once, and needs no signal. */
export interface SyncCollector extends Collector {
  collect(signal?: AbortSignal): Readings;
}

/** Checks a collector's `name` option: a non-empty string, or `fallback` when absent. */
export function collectorName(value: unknown, fallback: string): string {
  return value === undefined ? fallback : nonEmptyString('name', value);
}

export function nonEmptyString(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/** Checks a `clock` option; the system clock when absent. */
export function clockOption(value: unknown): Clock {
  if (value === undefined) return systemClock;
  const clock = value as Clock | null;
  if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') {
    throw new ConfigError('clock', value, 'a Clock');
  }
  return clock;
}

/** Throws a `ConfigError` unless `value` is an object (an options bag or a client). */
export function objectOption(option: string, value: unknown, expected = 'an object'): void {
  if (typeof value !== 'object' || value === null) throw new ConfigError(option, value, expected);
}

/** Throws a `ConfigError` unless `value` has a method `method`, naming the option and the method. */
export function methodOption(option: string, value: unknown, method: string, what: string): void {
  if (typeof (value as Record<string, unknown> | null | undefined)?.[method] !== 'function') {
    throw new ConfigError(option, value, `${what} (an object with a ${method}() method)`);
  }
}

/**
 * Change per second of a reading between two collects (a backlog's growth, a counter's rate). Undefined on
 * the first call and when no time has passed, so that a rate is never made up from a single point.
 */
export class Growth {
  #value = Number.NaN;
  #at = Number.NaN;

  /** Records `value` at `now` (ms) and returns the change per second since the previous call. */
  next(value: number, now: number): number | undefined {
    const previous = this.#value;
    const since = this.#at;
    this.#value = value;
    this.#at = now;
    const elapsed = now - since;
    if (!(elapsed > 0) || !Number.isFinite(previous)) return undefined;
    return ((value - previous) * 1000) / elapsed;
  }
}

/**
 * `work`, or a rejection with the signal's reason as soon as `signal` aborts. For clients that take no
 * signal (ioredis, pg, amqplib, nats): the request itself runs on, but the collect returns on time.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // settled later, with nobody waiting
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Rethrows `error` as a `CollectorError` saying what was being done (`doing`, e.g. `checkQueue("orders")`),
 * unless it is already one. Once `signal` has aborted, rejects with its reason instead: the controller
 * records a timeout as such, not as whatever the interrupted client made of it.
 */
export function failure(collector: string, doing: string, error: unknown, signal: AbortSignal): never {
  if (isCollectorError(error)) throw error;
  if (signal.aborted) throw signal.reason;
  throw new CollectorError(collector, `${doing} failed: ${messageOf(error)}`, { cause: error });
}

/** A number from a driver's value: numbers, bigints and numeric strings (pg returns int8 and numeric as strings). */
export function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

/** An error's message, with its cause's when it has one (fetch's "fetch failed" says little alone). */
export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const message = error.message || error.name;
  const cause = error.cause;
  return cause instanceof Error && cause.message && !message.includes(cause.message)
    ? `${message} (${cause.message})`
    : message;
}

/** `text` cut to `max` characters, for error messages that quote a reply. */
export function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
