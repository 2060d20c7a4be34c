import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError, isRejectedError, RejectedError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { finite, func, integer, or, positive } from '../core/validate.ts';
import { classifyError } from '../limiter/classify.ts';
import { PriorityLevels } from '../limiter/priority-levels.ts';
import type { Priority } from '../limiter/types.ts';
import { SlotRing } from '../signals/slot-ring.ts';
import { isCircuitOpenError } from './breaker/error.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';

/**
 * What a finished call tells the throttle about the backend:
 * - `accepted`: the backend handled it (whatever the answer, as long as it was not an overload signal);
 * - `rejected`: the backend signalled overload (429, 503, a timeout, a refused connection);
 * - `ignore`: the call never reached the backend (an inner breaker refused it, the caller gave up first);
 *   it is taken out of the window as if it had never been made.
 */
export type ThrottleOutcome = 'accepted' | 'rejected' | 'ignore';

/** Reads an error thrown by the guarded work. `signal` is the caller's, to tell its own aborts apart. */
export type ThrottleClassifier = (error: unknown, signal: AbortSignal | undefined) => ThrottleOutcome;

/**
 * The default reading of an error:
 * - `ignore` for calls that never reached the backend: a `CircuitOpenError` from an inner breaker, a
 *   `RejectedError` with reason `"aborted"`, and an abort the caller asked for. Counting an open breaker's
 *   fast refusals as backend rejections would drive the throttle towards rejecting everything, and keep it
 *   there for a window after the breaker closes.
 * - `rejected` for overload signals, as the limiter reads them (`classifyError`): timeouts, refused
 *   connections, HTTP 429 and 503, and other `RejectedError`s (an inner limiter shedding is the local
 *   echo of a saturated backend).
 * - `accepted` for everything else. A 404, a 500 or a validation error is an answer: the backend spent its
 *   capacity on the request and was not refusing work. Client-side throttling estimates how much traffic
 *   the backend admits; its health is the breaker's business.
 */
export const defaultThrottleClassifier: ThrottleClassifier = (error, signal) => {
  if (isCircuitOpenError(error)) return 'ignore';
  if (isRejectedError(error) && error.reason === 'aborted') return 'ignore';
  if (signal?.aborted === true && (error === signal.reason || isAbortError(error))) return 'ignore';
  return classifyError(error) === 'dropped' ? 'rejected' : 'accepted';
};

function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

export interface ThrottleOptions {
  /** Name of the policy, carried by events and errors. Default `"throttle"`. */
  readonly name?: string;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /**
   * The multiplier K: a call of the default priority is throttled once the window holds more than K
   * requests per accepted one. Lower is more aggressive; 1 throttles at the first backend rejection.
   *
   * A number (>= 1) is the default level's K; the others follow the criticality rule: K - 1, the backend
   * rejections tolerated per accepted request, doubles for each level more important than the default and
   * halves for each level less important. With the criticality names and K = 2: critical 5, high 3,
   * normal 2, low 1.5, sheddable 1.25. An array gives one K (>= 1) per level instead, most important first.
   * Default 2 (the SRE book's value).
   */
  readonly k?: number | readonly number[];
  /**
   * Length of the sliding window (ms). Default 30 000. The SRE book keeps two minutes; a shorter window
   * is chosen here because the throttle engages and releases at the pace of its window. After a healthy
   * spell, throttling starts once the accepted requests fall below 1/K of the window; after the backend
   * recovers from an outage, the accepted traffic grows by a factor e every `window / K` until it catches
   * up with the recorded requests. Measured (100 requests per second, a one-minute outage, default cap):
   * the probability is back to 0 in 53 s with 30 s, 216 s with two minutes. Thirty seconds still holds
   * hundreds of samples at 10 requests per second, enough for a steady estimate.
   */
  readonly window?: number;
  /** Slots the window is split into, an integer in [1, 1000]; calls leave a slot at a time. Default 30. */
  readonly slots?: number;
  /**
   * Highest rejection probability, in (0, 1]. Default 0.9. Without a cap the formula lets through only
   * `1 / (requests + 1)` of the calls after a complete outage, so recovery is slow: measured as above, 173 s
   * with the default window and 611 s with two minutes. With the cap, at least a tenth of the calls keep
   * probing the backend and recovery takes under two windows. 1 applies the plain formula.
   */
  readonly maxProbability?: number;
  /** Priority levels: a count (levels 0..n-1) or names, most important first. Default the criticality names. */
  readonly priorities?: number | readonly string[];
  /** Reads an error thrown by the work. Default `defaultThrottleClassifier`. */
  readonly classify?: ThrottleClassifier;
  /**
   * Reads a value the work returned, for work that reports overload without throwing (a `Response` with
   * status 503). Default: every value is `accepted`.
   */
  readonly classifyResult?: (value: unknown) => ThrottleOutcome;
  /** Uniform random numbers in [0, 1), for the rejection draw. Default `Math.random`. */
  readonly random?: () => number;
}

/** The right to send one call, from `tryPass`. Settle it exactly once; later settlements are ignored. */
export interface ThrottleTicket {
  /** The backend handled the call. */
  accepted(): void;
  /** The backend signalled overload. */
  rejected(): void;
  /** The call never reached the backend: it leaves the window as if it had never been made. */
  ignore(): void;
  /** Settles with the given outcome. */
  settle(outcome: ThrottleOutcome): void;
}

export interface ThrottleSnapshot {
  /** Requests in the window: every attempt, including those rejected locally. */
  readonly requests: number;
  /** Requests in the window that the backend accepted. */
  readonly accepts: number;
  /** Rejection probability of a call of the default priority. */
  readonly probability: number;
}

export interface ThrottleEvents {
  /** A call was rejected locally. Channel `sluice:throttle:throttle`. */
  readonly throttle: {
    readonly throttle: string;
    readonly at: number;
    /** Probability the call was rejected with. */
    readonly probability: number;
    readonly requests: number;
    readonly accepts: number;
    /** Priority level index of the call. */
    readonly priority: number;
  };
}

export interface Throttle extends Policy {
  /**
   * Runs `fn` unless the throttle rejects the call locally, with a `ThrottledError` (a `RejectedError` with
   * reason `"shed"`). The call counts as a request either way.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T>;
  /** Decides synchronously: a ticket to settle when the call ends, or `undefined` if rejected locally. */
  tryPass(priority?: Priority): ThrottleTicket | undefined;
  /** Rejection probability of a call of `priority` (default level if absent), now. */
  probability(priority?: Priority): number;
  /** Requests, accepts and the default level's probability, now. */
  snapshot(): ThrottleSnapshot;
  /** Suggested wait after a local rejection (ms): until the window next slides. */
  retryAfterMs(): number;
  /** Typed events (also on diagnostics_channel `sluice:throttle:<event>`); returns an unsubscribe function. */
  on<K extends keyof ThrottleEvents & string>(
    name: K,
    listener: (event: ThrottleEvents[K]) => void,
  ): () => void;
  /** Forgets the window. */
  reset(): void;
}

/**
 * Thrown (as a rejection) when the throttle refuses a call locally: a `RejectedError` (reason `"shed"`,
 * name `"RejectedError"`, so code that handles rejections handles it) with the throttle's numbers.
 */
export class ThrottledError extends RejectedError {
  readonly throttle: string;
  /** Probability the call was rejected with. */
  readonly probability: number;
  /** Requests in the window, this one excluded. */
  readonly requests: number;
  /** Accepted requests in the window. */
  readonly accepts: number;

  constructor(
    throttle: string,
    probability: number,
    requests: number,
    accepts: number,
    k: number,
    priority: number,
    retryAfterMs: number,
  ) {
    // `limit` is the number of requests the window allows before throttling starts (K * accepts);
    // `inflight` the requests it holds.
    super(
      'shed',
      { limit: k * accepts, inflight: requests, queued: 0, retryAfterMs, priority },
      `sluice: throttle "${throttle}" rejected the call locally with probability ${round(probability)} ` +
        `(${requests} requests, ${accepts} accepted, K ${round(k)}); retry after ${Math.ceil(retryAfterMs)} ms`,
    );
    this.throttle = throttle;
    this.probability = probability;
    this.requests = requests;
    this.accepts = accepts;
  }
}

/** True for a `ThrottledError` from any copy of sluice. */
export function isThrottledError(error: unknown): error is ThrottledError {
  return (
    isRejectedError(error) && typeof (error as ThrottledError).throttle === 'string' && 'probability' in error
  );
}

/**
 * Client-side adaptive throttling (Google SRE book, "Handling Overload"): the client keeps, over a sliding
 * window, the number of requests it attempted and the number the backend accepted, and rejects a new call
 * locally, before any work, with probability
 *
 *     max(0, (requests - K * accepts) / (requests + 1))
 *
 * (capped at `maxProbability`). While the backend accepts at least 1/K of the requests nothing is
 * rejected; beyond that the client sheds the excess itself, cheaply, instead of making the backend spend
 * capacity refusing it. Locally rejected calls count as requests: that is what makes the calls that do
 * reach the backend settle at about K times those it accepts, whatever the load offered.
 *
 * Criticality: more important calls use a larger K (see `k`), so as the backend's acceptance falls, the
 * least important calls are throttled first and the most important last.
 *
 * Memory is fixed: two counters and a generation per slot. `tryPass` and the admission inside `execute`
 * are O(1) and allocation-free on the decision (bar the ticket or error they return), except that rolling
 * the window clears at most `slots` slots.
 */
export function createThrottle(options?: ThrottleOptions): Throttle {
  return new AdaptiveThrottle(options);
}

class Ticket implements ThrottleTicket {
  readonly #settle: (slot: number, generation: number, outcome: ThrottleOutcome) => void;
  readonly #slot: number;
  readonly #generation: number;
  #done = false;

  constructor(
    settle: (slot: number, generation: number, outcome: ThrottleOutcome) => void,
    slot: number,
    generation: number,
  ) {
    this.#settle = settle;
    this.#slot = slot;
    this.#generation = generation;
  }

  accepted(): void {
    this.settle('accepted');
  }
  rejected(): void {
    this.settle('rejected');
  }
  ignore(): void {
    this.settle('ignore');
  }
  settle(outcome: ThrottleOutcome): void {
    if (this.#done) return;
    this.#done = true;
    this.#settle(this.#slot, this.#generation, outcome);
  }
}

class AdaptiveThrottle implements Throttle {
  readonly name: string;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #classify: ThrottleClassifier;
  readonly #classifyResult: ((value: unknown) => ThrottleOutcome) | undefined;
  readonly #levels: PriorityLevels;
  /** K per priority level. */
  readonly #k: Float64Array;
  readonly #maxProbability: number;
  readonly #ring: SlotRing;
  // Per slot: requests made in it, how many of those the backend accepted (always <= requests), and a
  // generation bumped whenever the slot is cleared, so a late settlement for an expired slot is dropped.
  readonly #requests: Float64Array;
  readonly #accepts: Float64Array;
  readonly #generations: Uint32Array;
  #totalRequests = 0;
  #totalAccepts = 0;
  /** Probability of the last local rejection, for its error and event. */
  #lastProbability = 0;
  readonly #events = new Events<ThrottleEvents>('throttle');
  readonly #settleBound = (slot: number, generation: number, outcome: ThrottleOutcome): void =>
    this.#settle(slot, generation, outcome);

  constructor(options: ThrottleOptions | undefined) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    const name = or(options?.name, 'throttle');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    const clock = or(options?.clock, systemClock);
    if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
      throw new ConfigError('clock', clock, 'a Clock');
    }
    this.#clock = clock;
    this.#random = func('random', or(options?.random, Math.random));
    this.#classify = func('classify', or(options?.classify, defaultThrottleClassifier));
    this.#classifyResult =
      options?.classifyResult === undefined ? undefined : func('classifyResult', options.classifyResult);
    this.#levels = new PriorityLevels('priorities', options?.priorities);
    this.#k = kPerLevel(or(options?.k, 2), this.#levels);
    const max = or(options?.maxProbability, 0.9);
    if (typeof max !== 'number' || !(max > 0 && max <= 1)) {
      throw new ConfigError('maxProbability', max, 'a number in (0, 1]');
    }
    this.#maxProbability = max;
    const window = positive('window', or(options?.window, 30_000));
    const slots = integer('slots', or(options?.slots, 30), 1, 1000);
    this.#ring = new SlotRing(window, slots);
    this.#requests = new Float64Array(slots);
    this.#accepts = new Float64Array(slots);
    this.#generations = new Uint32Array(slots);
  }

  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    let level: number;
    try {
      level = this.#levels.index(options?.priority);
    } catch (error) {
      return Promise.reject(error);
    }
    const now = this.#clock.now();
    const slot = this.#admit(level, now);
    if (slot < 0) return Promise.reject(this.#rejection(level, now));
    return this.#run(fn, options, signal, slot, this.#generations[slot]!);
  }

  tryPass(priority?: Priority): ThrottleTicket | undefined {
    const level = this.#levels.index(priority);
    const now = this.#clock.now();
    const slot = this.#admit(level, now);
    if (slot < 0) {
      this.#announce(level, now);
      return undefined;
    }
    return new Ticket(this.#settleBound, slot, this.#generations[slot]!);
  }

  probability(priority?: Priority): number {
    const level = this.#levels.index(priority);
    this.#roll(this.#clock.now());
    return this.#probability(level);
  }

  snapshot(): ThrottleSnapshot {
    this.#roll(this.#clock.now());
    return {
      requests: this.#totalRequests,
      accepts: this.#totalAccepts,
      probability: this.#probability(this.#levels.defaultLevel),
    };
  }

  retryAfterMs(): number {
    const now = this.#clock.now();
    const slotMs = this.#ring.slotMs;
    return (Math.floor(now / slotMs) + 1) * slotMs - now;
  }

  on<K extends keyof ThrottleEvents & string>(
    name: K,
    listener: (event: ThrottleEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  reset(): void {
    this.#requests.fill(0);
    this.#accepts.fill(0);
    for (let i = 0; i < this.#generations.length; i++) this.#generations[i]! += 1;
    this.#totalRequests = 0;
    this.#totalAccepts = 0;
  }

  async #run<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    options: CallOptions | undefined,
    signal: AbortSignal | undefined,
    slot: number,
    generation: number,
  ): Promise<T> {
    let value: T;
    try {
      value = await fn(contextOf(options));
    } catch (error) {
      this.#settle(slot, generation, this.#classify(error, signal));
      throw error;
    }
    this.#settle(
      slot,
      generation,
      this.#classifyResult === undefined ? 'accepted' : this.#classifyResult(value),
    );
    return value;
  }

  /**
   * Counts a request of `level` at `now` and draws; returns the slot it was counted in, or -1 if rejected.
   * The probability is computed before this request is counted: it is the one the history implies.
   */
  #admit(level: number, now: number): number {
    this.#roll(now);
    const p = this.#probability(level);
    const slot = this.#ring.head;
    this.#requests[slot]! += 1;
    this.#totalRequests += 1;
    if (p > 0 && this.#random() < p) {
      this.#lastProbability = p;
      return -1;
    }
    return slot;
  }

  #probability(level: number): number {
    const requests = this.#totalRequests;
    const excess = requests - this.#k[level]! * this.#totalAccepts;
    if (!(excess > 0)) return 0;
    return Math.min(excess / (requests + 1), this.#maxProbability);
  }

  #rejection(level: number, now: number): ThrottledError {
    this.#announce(level, now);
    // The counts as they stood when the draw was made: this request excluded.
    const requests = this.#totalRequests - 1;
    const p = this.#lastProbability;
    return new ThrottledError(
      this.name,
      p,
      requests,
      this.#totalAccepts,
      this.#k[level]!,
      level,
      this.retryAfterMs(),
    );
  }

  /** Publishes a local rejection, whether it came from `execute` or `tryPass`. */
  #announce(level: number, now: number): void {
    if (!this.#events.wants('throttle')) return;
    this.#events.emit('throttle', {
      throttle: this.name,
      at: now,
      probability: this.#lastProbability,
      requests: this.#totalRequests - 1,
      accepts: this.#totalAccepts,
      priority: level,
    });
  }

  #settle(slot: number, generation: number, outcome: ThrottleOutcome): void {
    this.#roll(this.#clock.now());
    // The request's slot has left the window: its request is gone, so is its outcome.
    if (this.#generations[slot] !== generation) return;
    if (outcome === 'accepted') {
      this.#accepts[slot]! += 1;
      this.#totalAccepts += 1;
    } else if (outcome === 'ignore') {
      this.#requests[slot]! -= 1;
      this.#totalRequests -= 1;
    }
  }

  #roll(now: number): void {
    const steps = this.#ring.advance(now);
    if (steps === 0) return;
    const size = this.#ring.size;
    const head = this.#ring.head;
    for (let j = 0; j < steps; j++) {
      const i = (head - j + size) % size;
      this.#totalRequests -= this.#requests[i]!;
      this.#totalAccepts -= this.#accepts[i]!;
      this.#requests[i] = 0;
      this.#accepts[i] = 0;
      this.#generations[i]! += 1;
    }
  }
}

function kPerLevel(k: unknown, levels: PriorityLevels): Float64Array {
  const n = levels.count;
  const out = new Float64Array(n);
  if (typeof k === 'number') {
    finite('k', k, 1);
    const d = levels.defaultLevel;
    for (let i = 0; i < n; i++) out[i] = 1 + (k - 1) * 2 ** (d - i);
    return out;
  }
  if (!Array.isArray(k) || k.length !== n) {
    throw new ConfigError('k', k, `a number >= 1 or an array of ${n} numbers >= 1 (one per priority level)`);
  }
  for (let i = 0; i < n; i++) out[i] = finite(`k[${i}]`, k[i], 1);
  return out;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
