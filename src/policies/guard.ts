import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { func } from '../core/validate.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { Limiter, LimiterOptions } from '../limiter/types.ts';
import { type Breaker, type BreakerOptions, createBreaker } from './breaker.ts';
import { type LimiterPolicy, limiterPolicy } from './limiter-policy.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';
import { createRetry, type Retry, type RetryOptions } from './retry.ts';
import { createThrottle, type Throttle, type ThrottleOptions } from './throttle.ts';
import { createTimeout, type Timeout, type TimeoutOptions } from './timeout.ts';

/** Policies composed into one; `execute` runs a call through all of them, outermost first. */
export interface Guard extends Policy {
  /** `"guard"`, or the name given in `GuardOptions`. */
  readonly name: string;
  /** The composed policies, outermost first. */
  readonly policies: readonly Policy[];
  /**
   * Runs `fn` inside every policy. Each policy hands the next the context it made (a timeout's signal and
   * deadline, a retry's attempt number), so `fn` receives the innermost one.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T>;
  /**
   * Returns `fn` guarded: each call runs through `execute` with `options`. `fn` does not see the context;
   * use `execute` for work that should receive the signal, the deadline or the attempt number.
   */
  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options?: CallOptions,
  ): (...args: A) => Promise<T>;
}

/** The guard `guard(options)` builds, with its parts exposed for events, snapshots and tests. */
export interface ComposedGuard extends Guard {
  readonly retry: Retry | undefined;
  readonly breaker: Breaker | undefined;
  readonly throttle: Throttle | undefined;
  readonly limiter: LimiterPolicy | undefined;
  readonly timeout: Timeout | undefined;
}

/**
 * The parts of a standard guard. Each takes a ready policy, options to build one (given this guard's
 * `clock` and `name` unless they set their own), or `false` to leave it out.
 */
export interface GuardOptions {
  /** Name of the guard, and of the breaker, throttle and limiter it builds. Default `"guard"`. */
  readonly name?: string;
  /** Time source of every part built from options. Default the system monotonic clock. */
  readonly clock?: Clock;
  /**
   * Retries, outermost, so that every attempt passes the breaker, the throttle and the limiter again.
   * Default `createRetry()`: 3 attempts, full-jitter backoff, a retry budget of its own (10% of first
   * attempts plus 1 per second), Retry-After honoured.
   */
  readonly retry?: Retry | RetryOptions | false;
  /** Circuit breaker. Default `createBreaker()`: 10 failures in a row, or 50% of at least 20 calls in 10 s. */
  readonly breaker?: Breaker | BreakerOptions | false;
  /**
   * Client-side adaptive throttling (rejects locally once the backend accepts less than 1 request in K).
   * Default none: the limiter already backs off on overload; add the throttle when many clients share one
   * backend and it should shed their excess before it travels.
   */
  readonly throttle?: Throttle | ThrottleOptions | false;
  /**
   * Concurrency limiter: a limiter, its policy adapter, or options for `createLimiter`. Default
   * `createLimiter()`: the adaptive default limit with a deadline-aware priority queue.
   */
  readonly limiter?: Limiter | LimiterPolicy | LimiterOptions | false;
  /**
   * Timeout of each attempt (ms), innermost. Default none: each attempt is bounded only by the caller's
   * deadline and signal.
   */
  readonly timeout?: Timeout | TimeoutOptions | number | false;
}

/** The parts of a standard guard, built and in order. */
export interface GuardParts {
  readonly retry: Retry | undefined;
  readonly breaker: Breaker | undefined;
  readonly throttle: Throttle | undefined;
  readonly limiter: LimiterPolicy | undefined;
  readonly timeout: Timeout | undefined;
}

class Composition implements Guard {
  readonly name: string;
  readonly policies: readonly Policy[];
  readonly #last: number;

  constructor(name: string, policies: readonly Policy[]) {
    this.name = name;
    this.policies = policies;
    this.#last = policies.length - 1;
  }

  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    if (this.#last < 0) {
      try {
        return Promise.resolve(fn(contextOf(options)));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#from(0, fn, options);
  }

  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options?: CallOptions,
  ): (...args: A) => Promise<T> {
    func('wrap(fn)', fn);
    return (...args: A) => this.execute(() => fn(...args), options);
  }

  /** Policy `i` runs the rest of the chain; a context is a valid `CallOptions` for the next policy. */
  #from<T>(i: number, fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const policy = this.policies[i]!;
    if (i === this.#last) return policy.execute(fn, options);
    return policy.execute((context) => this.#from(i + 1, fn, context), options);
  }
}

class StandardGuard extends Composition implements ComposedGuard {
  readonly retry: Retry | undefined;
  readonly breaker: Breaker | undefined;
  readonly throttle: Throttle | undefined;
  readonly limiter: LimiterPolicy | undefined;
  readonly timeout: Timeout | undefined;

  constructor(name: string, parts: GuardParts) {
    super(name, orderParts(parts));
    this.retry = parts.retry;
    this.breaker = parts.breaker;
    this.throttle = parts.throttle;
    this.limiter = parts.limiter;
    this.timeout = parts.timeout;
  }
}

/**
 * The standard order, outermost first: retry, breaker, throttle, limiter, timeout.
 *
 * - **Retry outermost.** Every attempt, the first and each retry, passes the breaker, the throttle and the
 *   limiter like a fresh call: a retry cannot slip past an open breaker, a throttle that is shedding, or a
 *   full limiter, and each policy counts it (the throttle's request count, the limiter's queue and
 *   samples, the breaker's window). The retry budget sees each attempt's outcome and counts every retry.
 *   The draft order (retry innermost) would hold one permit and one breaker ticket across all the
 *   attempts and their backoffs: retries would bypass the limiter and the breaker entirely, and a limiter
 *   permit would sit idle through every backoff sleep.
 * - **Breaker before the throttle.** An open breaker refuses calls before the throttle counts them. Were
 *   the throttle outside, its own local rejections during an outage would count as requests with no
 *   accepts, holding its rejection probability at its cap for a whole window after the dependency
 *   recovers, so recovery would wait on the throttle long after the breaker closed. Inside, it sees only
 *   the calls that reach the dependency, and its window drains while the breaker is open. The breaker
 *   ignores the throttle's and the limiter's refusals (`RejectedError`), so local shedding never trips it.
 * - **Breaker and throttle before the limiter.** A call that will be refused anyway is refused before it
 *   waits in the limiter's queue or holds a permit. (The cost: a breaker's slow-call duration includes the
 *   queue wait, which the limiter bounds.)
 * - **Timeout innermost.** It bounds one attempt's work, not its queue wait (which the limiter bounds by
 *   the caller's deadline and its queue timeout), so a timeout is an overload sample for the limiter (a
 *   drop), a failure for the breaker, a rejection for the throttle and a retryable error for the retry. The
 *   caller's deadline still bounds the whole call: every policy passes it down, the limiter will not admit
 *   a call that cannot start before it, the retry will not sleep past it, and the timeout takes the earlier
 *   of it and its own.
 */
export function orderParts(parts: GuardParts): Policy[] {
  const out: Policy[] = [];
  if (parts.retry !== undefined) out.push(parts.retry);
  if (parts.breaker !== undefined) out.push(parts.breaker);
  if (parts.throttle !== undefined) out.push(parts.throttle);
  if (parts.limiter !== undefined) out.push(parts.limiter);
  if (parts.timeout !== undefined) out.push(parts.timeout);
  return out;
}

/** Builds the parts `options` describe, with the defaults of `GuardOptions`. */
export function buildParts(options: GuardOptions): GuardParts {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new ConfigError('clock', clock, 'a Clock (an object with now() and setTimer())');
  }
  const name = guardName(options.name);
  return {
    retry: part('retry', options.retry, {}, (o: RetryOptions) => createRetry({ clock, name, ...o })),
    breaker: part('breaker', options.breaker, {}, (o: BreakerOptions) =>
      createBreaker({ clock, name, ...o }),
    ),
    throttle: part('throttle', options.throttle, false, (o: ThrottleOptions) =>
      createThrottle({ clock, name, ...o }),
    ),
    limiter: limiterPart(options.limiter, clock, name),
    timeout: timeoutPart(options.timeout, clock, name),
  };
}

function guardName(name: unknown): string {
  if (name === undefined) return 'guard';
  if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
  return name;
}

function isPolicy(value: unknown): value is Policy {
  return typeof value === 'object' && value !== null && typeof (value as Policy).execute === 'function';
}

function part<P extends Policy, O extends object>(
  option: string,
  value: P | O | false | undefined,
  fallback: O | false,
  build: (options: O) => P,
): P | undefined {
  const v = value === undefined ? fallback : value;
  if (v === false) return undefined;
  if (isPolicy(v)) return v as P;
  if (typeof v !== 'object' || v === null) {
    throw new ConfigError(option, v, `a ${option} policy, options for one, or false`);
  }
  return build(v as O);
}

function limiterPart(
  value: Limiter | LimiterPolicy | LimiterOptions | false | undefined,
  clock: Clock,
  name: string,
): LimiterPolicy | undefined {
  if (value === false) return undefined;
  if (value === undefined) return limiterPolicy(createLimiter({ clock, name }));
  if (isPolicy(value)) return value as LimiterPolicy;
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(
      'limiter',
      value,
      'a Limiter, a limiterPolicy, options for createLimiter, or false',
    );
  }
  if (typeof (value as Limiter).run === 'function') return limiterPolicy(value as Limiter);
  return limiterPolicy(createLimiter({ clock, name, ...(value as LimiterOptions) }));
}

function timeoutPart(
  value: Timeout | TimeoutOptions | number | false | undefined,
  clock: Clock,
  name: string,
): Timeout | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value === 'number') return createTimeout({ timeout: value, clock, name: `${name}.timeout` });
  if (isPolicy(value)) return value as Timeout;
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError('timeout', value, 'a duration in ms, a Timeout, options for one, or false');
  }
  return createTimeout({ clock, name: `${name}.timeout`, ...value });
}

/**
 * Composes policies into one.
 *
 * `guard(...policies)` runs a call through the policies given, the first outermost: `guard(a, b).execute(fn)`
 * is `a.execute((ctx) => b.execute(fn, ctx))`. No policies gives a guard that just runs `fn`.
 *
 * `guard(options)` builds the standard guard: retry, breaker, throttle, limiter and timeout, in that order
 * (see `orderParts` for why this order), each from its options or the defaults of `GuardOptions`: by
 * default an adaptive limiter, a breaker and a budgeted retry.
 *
 * ```ts
 * const protect = guard({ timeout: 2000, throttle: {} });
 * const user = await protect.execute(({ signal }) => getUser(id, { signal }), { priority: 'high' });
 * ```
 */
export function guard(options: GuardOptions): ComposedGuard;
export function guard(...policies: Policy[]): Guard;
export function guard(...args: [GuardOptions] | Policy[]): Guard {
  const first = args[0];
  if (args.length === 1 && first !== undefined && !isPolicy(first)) {
    const options = first as GuardOptions;
    return new StandardGuard(guardName(options?.name), buildParts(options));
  }
  for (let i = 0; i < args.length; i++) {
    if (!isPolicy(args[i])) throw new ConfigError(`policies[${i}]`, args[i], 'a Policy (with execute())');
  }
  return new Composition('guard', [...(args as Policy[])]);
}
