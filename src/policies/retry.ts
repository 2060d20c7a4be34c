import { type Clock, sleep, systemClock } from '../core/clock.ts';
import { ConfigError, isRejectedError, isSluiceError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { finite, func, or } from '../core/validate.ts';
import type { Backoff, RandomSource } from './backoff/backoff.ts';
import { fullJitterBackoff } from './backoff/full-jitter.ts';
import type { CallContext, CallOptions, Policy } from './policy.ts';
import { createRetryBudget, type RetryBudget } from './retry-budget.ts';
import { createTimeout, type Timeout } from './timeout.ts';

/** Why a retry policy stopped and let the last error through. */
export type GiveUpReason =
  /** The last attempt allowed by `attempts` failed. */
  | 'attempts'
  /** The error is not one the predicate retries (a 4xx, a bug, a caller's abort). */
  | 'not-retryable'
  /** The next attempt could not start before the caller's deadline. */
  | 'deadline'
  /** The retry budget refused the retry. */
  | 'budget'
  /** The caller's signal aborted (after an attempt, or during the backoff). */
  | 'aborted';

export interface RetryOptions {
  /** Name used in events. Default `"retry"`. */
  readonly name?: string;
  /** Most attempts per call, the first included (an integer >= 1, or `Infinity`). Default 3. */
  readonly attempts?: number;
  /** Delay strategy between attempts. Default `fullJitterBackoff({ base: 100, max: 10000 })`. */
  readonly backoff?: Backoff;
  /** Which errors are worth another attempt. Default `isRetryableError`. */
  readonly retryable?: (error: unknown) => boolean;
  /**
   * The budget retries draw on; share one among every policy that calls the same downstream. `false` lets
   * retries multiply load without bound (tests, or work that is not load-bearing). Default: a budget of
   * its own with `createRetryBudget()`'s defaults, so no retry policy is unbudgeted by accident.
   */
  readonly budget?: RetryBudget | false;
  /** Longest one attempt may run (ms), enforced with a timeout policy; `Infinity` for none. Default `Infinity`. */
  readonly attemptTimeout?: number;
  /**
   * Whether a Retry-After hint on the error lengthens the wait: `retryAfterMs` on the error (as sluice's
   * rejections carry), or a `retry-after` header on `error.response.headers` or `error.headers`. The wait
   * is the longer of the hint and the backoff, capped at `maxDelay`. Default true.
   */
  readonly honourRetryAfter?: boolean;
  /** Longest wait before any retry (ms), whatever the backoff or a Retry-After hint says. Default 30000. */
  readonly maxDelay?: number;
  /**
   * Wall-clock time in ms since the epoch, used only to read a Retry-After given as an HTTP date (the
   * policy's `clock` is monotonic and has no epoch). Without it, only the seconds form is honoured.
   * Default none; pass `Date.now` to honour dates.
   */
  readonly wallClock?: () => number;
  /** Time source for backoff sleeps, deadlines and the default budget. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Random source for the backoff's jitter. Default `Math.random`; `seededRandom(n)` for repeatable runs. */
  readonly random?: RandomSource;
}

export interface RetryEvents {
  /** An attempt failed and another is scheduled after `delay` ms. */
  readonly retry: {
    readonly policy: string;
    readonly at: number;
    /** Number of the attempt about to run (1 for the first retry), as its `CallContext.attempt` will read. */
    readonly attempt: number;
    readonly delay: number;
    /** The error that failed the previous attempt. */
    readonly reason: unknown;
    /** The Retry-After hint read from the error, if any (ms). */
    readonly retryAfterMs: number | undefined;
  };
  /** The budget refused a retry that everything else allowed; the last error is thrown. */
  readonly 'budget-exhausted': {
    readonly policy: string;
    readonly at: number;
    /** Attempts made in this call. */
    readonly attempts: number;
    readonly reason: unknown;
    readonly firsts: number;
    readonly retries: number;
    readonly allowance: number;
  };
  /** The policy stopped retrying; `reason` (the last error, or the caller's abort reason) is thrown. */
  readonly 'give-up': {
    readonly policy: string;
    readonly at: number;
    readonly attempts: number;
    readonly why: GiveUpReason;
    readonly reason: unknown;
  };
}

export interface Retry extends Policy {
  /** Most attempts per call. */
  readonly attempts: number;
  /** The budget retries draw on, if any. */
  readonly budget: RetryBudget | undefined;
  /** Typed events (also on diagnostics_channel `sluice:retry:<event>`). */
  on<K extends keyof RetryEvents & string>(name: K, listener: (event: RetryEvents[K]) => void): () => void;
}

class RetryPolicy implements Retry {
  readonly name: string;
  readonly attempts: number;
  readonly budget: RetryBudget | undefined;
  readonly #backoff: Backoff;
  readonly #retryable: (error: unknown) => boolean;
  readonly #timeout: Timeout | undefined;
  readonly #honour: boolean;
  readonly #maxDelay: number;
  readonly #wallClock: (() => number) | undefined;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #events = new Events<RetryEvents>('retry');

  constructor(options: RetryOptions) {
    this.name = or(options.name, 'retry');
    const attempts = or(options.attempts, 3);
    if (!(attempts === Number.POSITIVE_INFINITY || (Number.isInteger(attempts) && attempts >= 1))) {
      throw new ConfigError('attempts', attempts, 'an integer >= 1, or Infinity');
    }
    this.attempts = attempts;
    this.#clock = or(options.clock, systemClock);
    this.#backoff = options.backoff ?? fullJitterBackoff({ base: 100, max: 10_000 });
    if (typeof this.#backoff?.delay !== 'function') {
      throw new ConfigError('backoff', options.backoff, 'a Backoff (an object with a delay() method)');
    }
    this.#retryable = func('retryable', or<(error: unknown) => boolean>(options.retryable, isRetryableError));
    const budget = options.budget;
    if (budget === false) this.budget = undefined;
    else if (budget === undefined) this.budget = createRetryBudget({ clock: this.#clock });
    else if (typeof budget.canRetry === 'function' && typeof budget.recordRetry === 'function')
      this.budget = budget;
    else throw new ConfigError('budget', budget, 'a RetryBudget (from createRetryBudget) or false');
    const attemptTimeout = or(options.attemptTimeout, Number.POSITIVE_INFINITY);
    if (typeof attemptTimeout !== 'number' || Number.isNaN(attemptTimeout) || attemptTimeout <= 0) {
      throw new ConfigError('attemptTimeout', attemptTimeout, 'a number > 0 (Infinity allowed)');
    }
    this.#timeout =
      attemptTimeout === Number.POSITIVE_INFINITY
        ? undefined
        : createTimeout({ name: `${this.name}.attempt`, timeout: attemptTimeout, clock: this.#clock });
    this.#honour = or(options.honourRetryAfter, true);
    if (typeof this.#honour !== 'boolean') {
      throw new ConfigError('honourRetryAfter', options.honourRetryAfter, 'a boolean');
    }
    this.#maxDelay = finite('maxDelay', or(options.maxDelay, 30_000), 0);
    this.#wallClock =
      options.wallClock === undefined ? undefined : func<() => number>('wallClock', options.wallClock);
    this.#random = func<RandomSource>('random', or<RandomSource>(options.random, Math.random));
  }

  /**
   * Runs `fn`, and runs it again after a backoff while it fails with a retryable error, attempts remain,
   * the next attempt can start before the caller's deadline and the budget allows. When it stops, it
   * throws the last attempt's error itself, unwrapped (see `createRetry` for why); if the caller's signal
   * aborts during a backoff, it throws the signal's reason.
   */
  async execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    const deadline = options?.deadline;
    const priority = options?.priority;
    const first = options?.attempt ?? 0;
    const budget = this.budget;
    budget?.recordAttempt();
    let previous = 0;
    for (let made = 1; ; made++) {
      const context: CallContext = { signal, deadline, attempt: first + made - 1, priority };
      try {
        return await (this.#timeout === undefined ? fn(context) : this.#timeout.execute(fn, context));
      } catch (error) {
        let why: GiveUpReason | undefined;
        if (signal?.aborted) why = 'aborted';
        else if (made >= this.attempts) why = 'attempts';
        else if (!this.#retryable(error)) why = 'not-retryable';
        if (why !== undefined) throw this.#giveUp(why, made, error);

        const raw = this.#backoff.delay(made, previous, this.#random);
        const hint = this.#honour ? retryAfterMs(error, this.#wallClock) : undefined;
        const delay = Math.min(this.#maxDelay, hint !== undefined && hint > raw ? hint : raw);
        const now = this.#clock.now();
        if (deadline !== undefined && now + delay >= deadline) throw this.#giveUp('deadline', made, error);
        if (budget !== undefined) {
          if (!budget.canRetry()) {
            if (this.#events.wants('budget-exhausted')) {
              const s = budget.snapshot();
              this.#events.emit('budget-exhausted', {
                policy: this.name,
                at: now,
                attempts: made,
                reason: error,
                firsts: s.firsts,
                retries: s.retries,
                allowance: s.allowance,
              });
            }
            throw this.#giveUp('budget', made, error);
          }
          // Withdrawn now, not when the retry starts, so concurrent calls in their backoff cannot all pass
          // the same check; a retry then cancelled by an abort is not refunded (the safe direction).
          budget.recordRetry();
        }
        if (this.#events.wants('retry')) {
          this.#events.emit('retry', {
            policy: this.name,
            at: now,
            attempt: first + made,
            delay,
            reason: error,
            retryAfterMs: hint,
          });
        }
        previous = raw;
        if (delay > 0) {
          try {
            await sleep(this.#clock, delay, signal);
          } catch (abort) {
            throw this.#giveUp('aborted', made, abort);
          }
        }
      }
    }
  }

  on<K extends keyof RetryEvents & string>(name: K, listener: (event: RetryEvents[K]) => void): () => void {
    return this.#events.on(name, listener);
  }

  /** Emits `give-up` and returns `reason`, for the caller to throw. */
  #giveUp(why: GiveUpReason, attempts: number, reason: unknown): unknown {
    if (this.#events.wants('give-up')) {
      this.#events.emit('give-up', { policy: this.name, at: this.#clock.now(), attempts, why, reason });
    }
    return reason;
  }
}

/**
 * A policy that retries failed work: at most `attempts` attempts, a backoff between them (on the clock,
 * abortable by the caller's signal, never past the caller's deadline), only for retryable errors, within a
 * retry budget, each attempt optionally bounded by `attemptTimeout`. `CallContext.attempt` tells the work
 * which attempt it is.
 *
 * When it stops, it throws the last error unchanged rather than a wrapper such as
 * `RetryBudgetExhaustedError`. The error is what callers and outer policies classify: a 503 must stay a
 * 503 for the breaker, for the limiter's classifier (which does not walk `cause` chains) and for the
 * caller's own `catch`. Running out of budget is the same kind of decision as running out of attempts
 * (not to try again) and the downstream's answer is still the truth about the call; why the policy
 * stopped is reported by the `give-up` and `budget-exhausted` events instead. Errors are not annotated in
 * place either: they may be frozen, or shared between calls.
 *
 * ```ts
 * const budget = createRetryBudget(); // one per downstream
 * const retry = createRetry({ attempts: 4, budget, attemptTimeout: 2000 });
 * const res = await retry.execute(({ signal }) => fetchOrThrow(url, { signal }));
 * ```
 */
export function createRetry(options: RetryOptions = {}): Retry {
  return new RetryPolicy(options);
}

const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const transientStatus = new Set([408, 429, 502, 503, 504]);

/**
 * The default retry predicate: true for failures that are likely to pass on a later attempt, because they
 * come from load or from a passing fault rather than from the request itself.
 *
 * Retried: timeouts (sluice's `TimeoutError`, the DOM's, `ETIMEDOUT`, undici's timeouts); connections
 * reset, refused or dropped and temporary DNS failures (a restart, a deploy, a dropped keep-alive socket);
 * HTTP 408, 429, 502, 503 and 504 (the server or a proxy says "not now"); and a sluice `RejectedError` for a
 * load reason (it carries a `retryAfterMs`). Such errors are looked for along a short `cause` chain too,
 * since fetch wraps them in a `TypeError("fetch failed")`.
 *
 * Not retried: other 4xx (the request is wrong and will be wrong again), other 5xx such as 500 (usually a
 * deterministic server bug; a retry doubles its cost and rarely helps), aborts (the caller gave up), a
 * `RejectedError` for a passed deadline or an abort, a circuit breaker's refusal (the breaker already
 * knows the dependency is down, and decides itself when to probe it), configuration errors, and anything
 * unrecognised, notably programming errors (`TypeError`, `RangeError`, ...), which fail the same way
 * every time. Erring towards not retrying is deliberate: an unneeded retry adds load exactly when the
 * downstream can least afford it.
 *
 * The predicate cannot know whether the work is idempotent: a reset connection may have delivered a
 * non-idempotent request. Retry only idempotent work, or pass a predicate that knows.
 */
export function isRetryableError(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const verdict = transient(e);
    if (verdict !== undefined) return verdict;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** true or false when `e` itself settles the question; undefined to look at its cause. */
function transient(e: object): boolean | undefined {
  if (isSluiceError(e)) {
    if (isRejectedError(e)) return e.reason !== 'deadline' && e.reason !== 'aborted';
    if (e.code === 'SLUICE_TIMEOUT') return true;
    // An HTTP status carried by a sluice error (the guarded fetch's HttpStatusError) decides like any other.
    const status = (e as { status?: unknown }).status;
    return typeof status === 'number' && transientStatus.has(status);
  }
  const x = e as {
    name?: unknown;
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    response?: { status?: unknown } | null;
  };
  if (x.name === 'TimeoutError') return true;
  if (x.name === 'AbortError') return false;
  if (typeof x.code === 'string' && transientCodes.has(x.code)) return true;
  const status = x.status ?? x.statusCode ?? x.response?.status;
  if (typeof status === 'number') return transientStatus.has(status);
  return undefined;
}

/**
 * The Retry-After hint an error carries (ms), or `undefined`: its `retryAfterMs` field (sluice's
 * rejections), else a `retry-after` header on `error.response.headers` or `error.headers` (a `Headers`, a
 * `Map`-like with `get`, or a plain object as node:http gives). See `parseRetryAfter` for the header forms.
 */
export function retryAfterMs(error: unknown, wallClock?: () => number): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { retryAfterMs?: unknown; headers?: unknown; response?: { headers?: unknown } | null };
  const ms = e.retryAfterMs;
  if (typeof ms === 'number' && ms >= 0 && Number.isFinite(ms)) return ms;
  const value = header(e.response?.headers) ?? header(e.headers);
  return value === undefined ? undefined : parseRetryAfter(value, wallClock);
}

/**
 * Parses a Retry-After value (RFC 9110 §10.2.3) into ms from now: delay-seconds (`"120"`) always; an
 * HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`) only when `wallClock` gives the current epoch time, since
 * sluice's clocks are monotonic. A date in the past gives 0. Anything else gives `undefined`.
 */
export function parseRetryAfter(value: string, wallClock?: () => number): number | undefined {
  const s = value.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (wallClock === undefined) return undefined;
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  const ms = at - wallClock();
  return Math.max(ms, 0);
}

function header(headers: unknown): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const h = headers as { get?: unknown; [name: string]: unknown };
  const value =
    typeof h.get === 'function'
      ? (h.get as (name: string) => unknown).call(headers, 'retry-after')
      : (h['retry-after'] ?? h['Retry-After']);
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}
