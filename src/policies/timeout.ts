import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError, isSluiceError, SluiceError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { or } from '../core/validate.ts';
import { linkSignal } from './deadline.ts';
import type { CallContext, CallOptions, Policy } from './policy.ts';

/** What ran out: the policy's own `timeout`, or the caller's deadline (when it came first). */
export type TimeoutSource = 'timeout' | 'deadline';

export interface TimeoutDetails {
  /** Name of the policy that timed the call out. */
  readonly policy: string;
  /** Time the call was given (ms): the timeout, or what remained of the deadline at the start. */
  readonly timeoutMs: number;
  /** What ran out. */
  readonly source: TimeoutSource;
}

/**
 * A call ran past its timeout or its deadline: its signal was aborted with this error and the policy stopped
 * waiting for it. Named `TimeoutError`, like the DOM's, so that the limiter's default classifier, the
 * breaker and the retry predicate all read it as an overload signal.
 */
export class TimeoutError extends SluiceError {
  readonly code = 'SLUICE_TIMEOUT';
  override readonly name = 'TimeoutError';
  readonly policy: string;
  readonly timeoutMs: number;
  readonly source: TimeoutSource;

  constructor(details: TimeoutDetails) {
    const what = details.source === 'deadline' ? 'deadline passed' : 'timed out';
    super(
      `sluice: ${what} after ${Math.round(details.timeoutMs * 100) / 100} ms (policy "${details.policy}")`,
    );
    this.policy = details.policy;
    this.timeoutMs = details.timeoutMs;
    this.source = details.source;
  }
}

/** True for a sluice `TimeoutError` (from any copy of sluice); not for the DOM's. */
export function isTimeoutError(error: unknown): error is TimeoutError {
  return isSluiceError(error) && error.code === 'SLUICE_TIMEOUT';
}

export interface TimeoutOptions {
  /** Name used in events and errors. Default `"timeout"`. */
  readonly name?: string;
  /** Longest a call may run (ms, > 0); `Infinity` leaves only the caller's deadline. Required. */
  readonly timeout: number;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface TimeoutEvents {
  /** A call was timed out (its signal aborted, its promise rejected). */
  readonly timeout: {
    readonly policy: string;
    readonly at: number;
    readonly timeoutMs: number;
    readonly source: TimeoutSource;
  };
}

export interface Timeout extends Policy {
  /** The configured timeout (ms). */
  readonly timeout: number;
  /** Typed events (also on diagnostics_channel `sluice:timeout:<event>`). */
  on<K extends keyof TimeoutEvents & string>(
    name: K,
    listener: (event: TimeoutEvents[K]) => void,
  ): () => void;
}

class TimeoutPolicy implements Timeout {
  readonly name: string;
  readonly timeout: number;
  readonly #clock: Clock;
  readonly #events = new Events<TimeoutEvents>('timeout');

  constructor(options: TimeoutOptions) {
    this.name = or(options.name, 'timeout');
    const t = options.timeout;
    if (typeof t !== 'number' || Number.isNaN(t) || t <= 0) {
      throw new ConfigError('timeout', t, 'a number > 0 (Infinity allowed)');
    }
    this.timeout = t;
    this.#clock = or(options.clock, systemClock);
  }

  /**
   * Runs `fn` with a signal that aborts at the timeout or the caller's deadline, whichever is sooner, or
   * when the caller's signal aborts. The returned promise settles with `fn`'s outcome, or rejects as soon as
   * that signal aborts (with a `TimeoutError`, or the caller's reason): the policy does not wait for work
   * that ignores its signal, and a late settlement of that work is absorbed. The timer and the listener on
   * the caller's signal are released in every outcome.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const caller = options?.signal;
    if (caller?.aborted) return Promise.reject(caller.reason);
    const start = this.#clock.now();
    const own = start + this.timeout;
    const callerDeadline = options?.deadline;
    const source: TimeoutSource =
      callerDeadline !== undefined && callerDeadline < own ? 'deadline' : 'timeout';
    const deadline = source === 'deadline' ? (callerDeadline as number) : own;
    const finite = Number.isFinite(deadline);
    const attempt = options?.attempt ?? 0;
    const priority = options?.priority;
    if (finite && deadline <= start) return Promise.reject(this.#expire(source, 0));
    if (!finite && caller === undefined) {
      // Nothing can fire: run the work as it is, with no signal or timer to manage.
      try {
        return Promise.resolve(fn({ signal: undefined, deadline: undefined, attempt, priority }));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const link = linkSignal(this.#clock, caller, finite ? deadline : undefined, () =>
        this.#expire(source, deadline - start),
      );
      const signal = link.signal;
      const onAbort = (): void => {
        link.dispose();
        reject(signal.reason);
      };
      const settle = (): void => {
        link.dispose();
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let result: T | PromiseLike<T>;
      try {
        result = fn({ signal, deadline: finite ? deadline : undefined, attempt, priority });
      } catch (error) {
        settle();
        reject(error);
        return;
      }
      Promise.resolve(result).then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  on<K extends keyof TimeoutEvents & string>(
    name: K,
    listener: (event: TimeoutEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  #expire(source: TimeoutSource, timeoutMs: number): TimeoutError {
    if (this.#events.wants('timeout')) {
      this.#events.emit('timeout', { policy: this.name, at: this.#clock.now(), timeoutMs, source });
    }
    return new TimeoutError({ policy: this.name, timeoutMs, source });
  }
}

/**
 * A policy that bounds how long a call may run. The work receives a `CallContext` whose signal aborts at
 * the timeout or at the caller's deadline (whichever is sooner) and whose `deadline` is the tighter of the
 * two, to pass downstream; the call rejects with a `TimeoutError` when it runs out.
 *
 * ```ts
 * const timeout = createTimeout({ timeout: 2000 });
 * const body = await timeout.execute(({ signal }) => fetch(url, { signal }).then((r) => r.text()));
 * ```
 */
export function createTimeout(options: TimeoutOptions): Timeout {
  return new TimeoutPolicy(options);
}
