import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError, RejectedError, type RejectReason } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { finite, fraction, integer, nonNegative, or, ordered, positive } from '../core/validate.ts';
import type { Outcome } from '../limiter/types.ts';

/**
 * An adaptive token bucket for rate-shaped downstreams (APIs with a requests-per-second quota, brokers,
 * databases that answer 429 or 503 when pushed too hard).
 *
 * Tokens refill continuously at the current rate up to `burst`. The rate itself is learned, AIMD-style,
 * from the outcomes the caller records: it rises by `increase` per adjustment interval while latency holds
 * near its baseline, no drops were seen and the rate was actually in use; it is multiplied by `backoff`
 * on a drop, at most once per interval, so that one burst of rejections (many already in flight when the
 * first one arrived) costs one cut rather than collapsing the rate to `min`.
 */

export interface RegulatorQueueOptions {
  /** Most waiters held by `take()`; 0 disables waiting (a short `take()` rejects at once). Default 1000. */
  readonly size?: number;
  /**
   * Longest a waiter may wait, in milliseconds. A waiter whose projected start falls later is rejected
   * up front (reason `"queue-timeout"`) rather than left to expire. Default 5000.
   */
  readonly timeout?: number;
}

export interface RegulatorOptions {
  /** Name used in events and error messages. Default `"default"`. */
  readonly name?: string;
  /** Starting rate, in tokens per second. Default 10. */
  readonly rate?: number;
  /** Lowest rate (tokens per second, > 0) a cut may reach. Default `min(1, rate)`. */
  readonly min?: number;
  /** Highest rate (tokens per second) an increase may reach; `Infinity` for no ceiling. Default `Infinity`. */
  readonly max?: number;
  /**
   * Bucket capacity in tokens: the most that can be taken at once after an idle spell. Also the largest
   * cost one call may ask for. Default `max(1, rate)`: one second's worth at the starting rate.
   */
  readonly burst?: number;
  /** Tokens per second added to the rate after a healthy, busy interval. Default `max(1, rate / 10)`. */
  readonly increase?: number;
  /** Factor in (0, 1) the rate is multiplied by on a drop. Default 0.8. */
  readonly backoff?: number;
  /**
   * Adjustment interval in milliseconds: the rate rises at most once per interval, and is cut at most once
   * per interval. Intervals are closed by `record()`, so a regulator that is fed nothing does not move.
   * Default 1000.
   */
  readonly interval?: number;
  /**
   * How far the mean latency of an interval may rise over the baseline (as a ratio, >= 1) and still count
   * as holding. Above it the rate is not raised. Default 1.5.
   */
  readonly tolerance?: number;
  /**
   * Intervals the latency baseline remembers: the baseline is the lowest interval mean latency among the
   * last `baselineIntervals` intervals that had samples, so it follows a lasting shift after that many.
   * Default 30.
   */
  readonly baselineIntervals?: number;
  /** Waiting room for `take()`, or `false` for none (same as `{ size: 0 }`). */
  readonly queue?: RegulatorQueueOptions | false;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface TakeOptions {
  /** Absolute deadline on the regulator's clock (ms). Rejected (reason `"deadline"`) once it cannot be met. */
  readonly deadline?: number;
  /** Longest wait for this call (ms); overrides the queue's `timeout`. */
  readonly timeout?: number;
  /** Aborts the wait (rejected with reason `"aborted"`). */
  readonly signal?: AbortSignal;
}

/** The rule behind a rate change. */
export type RateRule =
  /** A healthy, busy interval: additive increase. */
  | 'increase'
  /** A drop (429, 503, timeout): multiplicative cut. */
  | 'drop'
  /** `setRate()` was called. */
  | 'manual';

/** One explained rate change. */
export interface RateChange {
  readonly regulator: string;
  /** Clock time of the change (ms). */
  readonly at: number;
  readonly previous: number;
  readonly rate: number;
  readonly rule: RateRule;
  /**
   * What the decision was based on. `increase`: `latency`, `baseline`, `tolerance`, `samples`, `demand`,
   * `capacity` (tokens the rate offered over the interval). `drop`: `drops` (since the previous cut, this one
   * included), `samples` (successes in the interval so far), `backoff`, `sinceCutMs`. `manual`: none.
   */
  readonly signals: Readonly<Record<string, number>>;
}

export interface RegulatorEvents {
  /** The rate changed (on `sluice:regulator:rate`). */
  readonly rate: RateChange;
  /** A `take()` was refused, at once or after waiting (on `sluice:regulator:reject`). */
  readonly reject: {
    readonly regulator: string;
    readonly at: number;
    readonly reason: RejectReason;
    readonly error: RejectedError;
  };
}

export interface RegulatorSnapshot {
  /** Current rate, tokens per second. */
  readonly rate: number;
  /** Tokens in the bucket now. */
  readonly tokens: number;
  readonly burst: number;
  /** Waiters in the queue. */
  readonly queued: number;
  /** Sum of the waiters' costs. */
  readonly queuedCost: number;
  /** Latency baseline (ms), once learned. */
  readonly baseline: number | undefined;
  /** Mean latency of the last closed interval that had samples (ms). */
  readonly latency: number | undefined;
}

export interface Regulator {
  readonly name: string;
  /** Current rate, tokens per second. */
  readonly rate: number;
  /** Tokens in the bucket now (refilled to the clock's time). */
  readonly tokens: number;
  /** Waiters in the queue. */
  readonly queued: number;
  /**
   * Takes `cost` tokens now if they are there and nobody is waiting; never waits. Synchronous and
   * allocation-free. Throws a `RangeError` unless 0 < cost <= burst.
   */
  tryTake(cost?: number): boolean;
  /**
   * Takes `cost` tokens, waiting in FIFO order if needed. Rejects with a `RejectedError` (with a
   * `retryAfterMs`) when the queue is full, the wait cannot end before the deadline or timeout, or the
   * signal aborts. Throws a `RangeError` unless 0 < cost <= burst, or for a NaN deadline or a timeout
   * that is not >= 0.
   */
  take(cost?: number, options?: TakeOptions): Promise<void>;
  /** Milliseconds until `cost` tokens would be free for a newcomer (behind the queue); 0 if now. */
  retryAfter(cost?: number): number;
  /**
   * Feeds the outcome of one call made with the regulator's tokens. `latencyMs` of successes is the
   * latency signal; `dropped` (429, 503, timeouts) cuts the rate; `ignore` is not counted.
   */
  record(outcome: Outcome, latencyMs?: number): void;
  /** Sets the rate (clamped to [min, max]); adjustments continue from it. */
  setRate(rate: number): void;
  snapshot(): RegulatorSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:regulator:<event>`). */
  on<K extends keyof RegulatorEvents & string>(
    name: K,
    listener: (event: RegulatorEvents[K]) => void,
  ): () => void;
}

/** Creates an adaptive token-bucket regulator. Invalid options throw a `ConfigError`. */
export function createRegulator(options: RegulatorOptions = {}): Regulator {
  return new AdaptiveRegulator(options);
}

/** Float slack for token comparisons, so a timer due exactly at refill time is not rescheduled by rounding. */
const EPSILON = 1e-9;
/** Shortest timer delay (ms): keeps a virtual clock from spinning on a shortfall below its resolution. */
const MIN_DELAY_MS = 1e-3;
/**
 * An interval counts as busy, and so may raise the rate, when the tokens asked for reached this fraction of
 * what the rate offered. Raising an idle rate would only store up a burst for when demand returns.
 */
const BUSY = 0.5;

const resolved: Promise<void> = Promise.resolve();

type Expiry = 'deadline' | 'queue-timeout';

interface Waiter {
  readonly cost: number;
  readonly enqueuedAt: number;
  /** Latest start time (ms): the tighter of the deadline and the queue timeout. */
  readonly expiresAt: number;
  readonly expiry: Expiry;
  readonly resolve: () => void;
  readonly reject: (error: RejectedError) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

class AdaptiveRegulator implements Regulator {
  readonly name: string;
  readonly #clock: Clock;
  readonly #events = new Events<RegulatorEvents>('regulator');
  readonly #min: number;
  readonly #max: number;
  readonly #burst: number;
  readonly #increase: number;
  readonly #backoff: number;
  readonly #interval: number;
  readonly #tolerance: number;
  readonly #queueSize: number;
  readonly #queueTimeout: number;

  #rate: number;
  #tokens: number;
  #refilledAt: number;

  // FIFO of waiters: live ones from #head on; settled ones are skipped when they reach the head.
  #waiters: Waiter[] = [];
  #head = 0;
  #count = 0;
  #queuedCost = 0;
  #timer: Timer | undefined;
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#pump();
  };

  // The current adjustment interval.
  #intervalStart: number;
  #successes = 0;
  /** Successes that came with a latency. */
  #timed = 0;
  #latencySum = 0;
  #drops = 0;
  #demand = 0;
  #lastCut = -Infinity;
  #dropsSinceCut = 0;

  // Ring of interval mean latencies; the baseline is its minimum.
  readonly #means: Float64Array;
  #meansAt = 0;
  #baseline: number | undefined;
  #lastMean: number | undefined;

  constructor(options: RegulatorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('options', options, 'an object');
    }
    const name = or(options.name, 'default');
    if (typeof name !== 'string') throw new ConfigError('name', name, 'a string');
    this.name = name;
    this.#clock = or(options.clock, systemClock);
    const rate = positive('rate', or(options.rate, 10));
    this.#min = positive('min', or(options.min, Math.min(1, rate)));
    this.#max = nonNegative('max', or(options.max, Infinity));
    ordered('min', this.#min, 'rate', rate);
    ordered('rate', rate, 'max', this.#max);
    this.#burst = finite('burst', or(options.burst, Math.max(1, rate)), 1);
    this.#increase = positive('increase', or(options.increase, Math.max(1, rate / 10)));
    this.#backoff = fraction('backoff', or(options.backoff, 0.8), { open: true });
    this.#interval = positive('interval', or(options.interval, 1000));
    this.#tolerance = finite('tolerance', or(options.tolerance, 1.5), 1);
    this.#means = new Float64Array(integer('baselineIntervals', or(options.baselineIntervals, 30), 1));
    this.#means.fill(Infinity);
    const queue = or(options.queue, {});
    if (queue === false) {
      this.#queueSize = 0;
      this.#queueTimeout = 0;
    } else if (typeof queue === 'object' && queue !== null) {
      this.#queueSize = integer('queue.size', or(queue.size, 1000), 0);
      this.#queueTimeout = nonNegative('queue.timeout', or(queue.timeout, 5000));
    } else {
      throw new ConfigError('queue', queue, 'an object or false');
    }

    this.#rate = rate;
    this.#tokens = this.#burst;
    const now = this.#clock.now();
    this.#refilledAt = now;
    this.#intervalStart = now;
  }

  get rate(): number {
    return this.#rate;
  }

  get tokens(): number {
    this.#refill(this.#clock.now());
    return this.#tokens;
  }

  get queued(): number {
    return this.#count;
  }

  tryTake(cost = 1): boolean {
    this.#checkCost(cost);
    this.#demand += cost;
    // Waiters are served first: a caller who does not wait must not overtake those who do.
    if (this.#count > 0) return false;
    this.#refill(this.#clock.now());
    if (this.#tokens + EPSILON < cost) return false;
    this.#tokens -= cost;
    return true;
  }

  take(cost = 1, options?: TakeOptions): Promise<void> {
    this.#checkCost(cost);
    this.#demand += cost;
    const now = this.#clock.now();
    this.#refill(now);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(this.#rejection('aborted', now, 0, 0));
    const deadline = options?.deadline ?? Infinity;
    const timeout = options?.timeout ?? this.#queueTimeout;
    if (Number.isNaN(deadline) || !(timeout >= 0)) {
      throw new RangeError(
        `sluice: take() needs a deadline that is a number and a timeout >= 0, got ${deadline} and ${timeout}`,
      );
    }
    if (deadline < now) return Promise.reject(this.#rejection('deadline', now, 0, 0));
    if (this.#count === 0 && this.#tokens + EPSILON >= cost) {
      this.#tokens -= cost;
      return resolved;
    }

    const wait = this.#waitFor(this.#queuedCost + cost);
    if (this.#queueSize === 0) return Promise.reject(this.#rejection('limit', now, wait, 0));
    if (this.#count >= this.#queueSize) return Promise.reject(this.#rejection('queue-full', now, wait, 0));

    const expiry: Expiry = deadline <= now + timeout ? 'deadline' : 'queue-timeout';
    const expiresAt = Math.min(deadline, now + timeout);
    // Shed before waiting: with the rate fixed, a FIFO bucket's start times are known in advance.
    if (now + wait > expiresAt) return Promise.reject(this.#rejection(expiry, now, wait, 0));

    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        cost,
        enqueuedAt: now,
        expiresAt,
        expiry,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        settled: false,
      };
      if (signal !== undefined) {
        waiter.onAbort = () => this.#abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#count++;
      this.#queuedCost += cost;
      if (this.#count === 1) this.#schedule(now);
    });
  }

  retryAfter(cost = 1): number {
    this.#refill(this.#clock.now());
    return this.#waitFor(this.#queuedCost + cost);
  }

  record(outcome: Outcome, latencyMs?: number): void {
    if (outcome === 'ignore') return;
    const now = this.#clock.now();
    if (now - this.#intervalStart >= this.#interval) this.#closeInterval(now);
    if (outcome === 'dropped') {
      this.#dropsSinceCut++;
      if (now - this.#lastCut >= this.#interval) this.#cut(now);
      else this.#drops++;
      return;
    }
    this.#successes++;
    // A success without a usable latency still shows a healthy downstream; it just says nothing of latency.
    if (latencyMs !== undefined && latencyMs >= 0 && latencyMs < Infinity) {
      this.#timed++;
      this.#latencySum += latencyMs;
    }
  }

  setRate(rate: number): void {
    if (typeof rate !== 'number' || !(rate > 0)) {
      throw new RangeError(`sluice: regulator rate must be a number > 0, got ${String(rate)}`);
    }
    this.#change(rate, 'manual', {});
  }

  snapshot(): RegulatorSnapshot {
    this.#refill(this.#clock.now());
    return {
      rate: this.#rate,
      tokens: this.#tokens,
      burst: this.#burst,
      queued: this.#count,
      queuedCost: this.#queuedCost,
      baseline: this.#baseline,
      latency: this.#lastMean,
    };
  }

  on<K extends keyof RegulatorEvents & string>(
    name: K,
    listener: (event: RegulatorEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  #checkCost(cost: number): void {
    if (!(cost > 0 && cost <= this.#burst)) {
      throw new RangeError(`sluice: regulator cost must be in (0, ${this.#burst}] (burst), got ${cost}`);
    }
  }

  #refill(now: number): void {
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#refilledAt = now;
    }
  }

  /** Milliseconds until `tokens` would be in the bucket at the current rate (bucket refilled to now). */
  #waitFor(tokens: number): number {
    const short = tokens - this.#tokens;
    return short <= EPSILON ? 0 : (short * 1000) / this.#rate;
  }

  /** Serves the waiters at the head that the bucket covers, then arms one timer for the next. */
  #pump(): void {
    const now = this.#clock.now();
    this.#refill(now);
    for (;;) {
      const waiter = this.#peek();
      if (waiter === undefined) return;
      if (this.#tokens + EPSILON >= waiter.cost) {
        this.#tokens -= waiter.cost;
        this.#dequeue(waiter);
        waiter.resolve();
        continue;
      }
      if (now + this.#waitFor(waiter.cost) > waiter.expiresAt) {
        this.#dequeue(waiter);
        waiter.reject(
          this.#rejection(waiter.expiry, now, this.#waitFor(waiter.cost), now - waiter.enqueuedAt),
        );
        continue;
      }
      this.#arm(this.#waitFor(waiter.cost));
      return;
    }
  }

  /** Re-arms the head timer for the current rate (after a change of rate or of head). */
  #schedule(now: number): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#refill(now);
    this.#pump();
  }

  #arm(delay: number): void {
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimer(this.#onTimer, Math.max(MIN_DELAY_MS, delay));
  }

  /** The first live waiter. Skips settled ones and reclaims their slots (the only place that moves #head). */
  #peek(): Waiter | undefined {
    const waiters = this.#waiters;
    let head = this.#head;
    while (head < waiters.length && waiters[head]!.settled) head++;
    if (head === waiters.length) {
      waiters.length = 0;
      this.#head = 0;
      return undefined;
    }
    if (head > 1024 && head * 2 > waiters.length) {
      this.#waiters = waiters.slice(head);
      this.#head = 0;
    } else {
      this.#head = head;
    }
    return this.#waiters[this.#head];
  }

  /** Marks `waiter` settled and takes it out of the counts; the array slot is reclaimed lazily. */
  #dequeue(waiter: Waiter): void {
    waiter.settled = true;
    this.#count--;
    this.#queuedCost -= waiter.cost;
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort);
  }

  #abort(waiter: Waiter): void {
    if (waiter.settled) return;
    const now = this.#clock.now();
    const wasHead = this.#peek() === waiter;
    this.#dequeue(waiter);
    waiter.reject(this.#rejection('aborted', now, 0, now - waiter.enqueuedAt));
    // A new head may be servable now, or due at a different time.
    if (wasHead) this.#schedule(now);
  }

  /**
   * After a cut, projected start times move later: waiters that can no longer start in time are told now
   * rather than when they expire. One pass, in queue order, projecting each behind the ones that stay.
   */
  #shedLate(now: number): void {
    let ahead = 0;
    // A local reference: a listener reacting to a rejection must not shift the array under this loop.
    const waiters = this.#waiters;
    for (let i = this.#head; i < waiters.length; i++) {
      const waiter = waiters[i]!;
      if (waiter.settled) continue;
      const wait = this.#waitFor(ahead + waiter.cost);
      if (now + wait > waiter.expiresAt) {
        this.#dequeue(waiter);
        waiter.reject(this.#rejection(waiter.expiry, now, wait, now - waiter.enqueuedAt));
      } else {
        ahead += waiter.cost;
      }
    }
  }

  #closeInterval(now: number): void {
    const elapsed = now - this.#intervalStart;
    const successes = this.#successes;
    const timed = this.#timed;
    const demand = this.#demand;
    const drops = this.#drops;
    let latency = Number.NaN;
    if (timed > 0) {
      latency = this.#latencySum / timed;
      this.#lastMean = latency;
      this.#means[this.#meansAt] = latency;
      this.#meansAt = (this.#meansAt + 1) % this.#means.length;
      let min = Infinity;
      for (const m of this.#means) if (m < min) min = m;
      this.#baseline = min;
    }
    this.#resetInterval(now);

    const capacity = (this.#rate * elapsed) / 1000;
    const baseline = this.#baseline;
    // Without any latency the rule is plain AIMD on drops; with it, latency must hold near the baseline.
    const holds = timed === 0 || latency <= baseline! * this.#tolerance;
    if (drops === 0 && successes > 0 && holds && demand >= BUSY * capacity && this.#rate < this.#max) {
      this.#change(this.#rate + this.#increase, 'increase', {
        latency,
        baseline: baseline ?? Number.NaN,
        tolerance: this.#tolerance,
        samples: successes,
        demand,
        capacity,
      });
    }
  }

  #resetInterval(now: number): void {
    this.#intervalStart = now;
    this.#successes = 0;
    this.#timed = 0;
    this.#latencySum = 0;
    this.#drops = 0;
    this.#demand = 0;
  }

  #cut(now: number): void {
    const signals = {
      drops: this.#dropsSinceCut,
      samples: this.#successes,
      backoff: this.#backoff,
      sinceCutMs: now - this.#lastCut,
    };
    this.#lastCut = now;
    this.#dropsSinceCut = 0;
    this.#change(this.#rate * this.#backoff, 'drop', signals);
  }

  #change(target: number, rule: RateRule, signals: Readonly<Record<string, number>>): void {
    const now = this.#clock.now();
    const next = Math.min(this.#max, Math.max(this.#min, target));
    // Each interval measures one rate: a change starts a fresh one.
    this.#resetInterval(now);
    const previous = this.#rate;
    if (next === previous) return;
    this.#refill(now);
    this.#rate = next;
    if (this.#count > 0) {
      if (next < previous) this.#shedLate(now);
      this.#schedule(now);
    }
    if (this.#events.wants('rate')) {
      this.#events.emit('rate', { regulator: this.name, at: now, previous, rate: next, rule, signals });
    }
  }

  #rejection(reason: RejectReason, now: number, retryAfterMs: number, waitedMs: number): RejectedError {
    const rate = this.#rate;
    const queued = this.#count;
    const error = new RejectedError(
      reason,
      { limit: rate, inflight: 0, queued, retryAfterMs, waitedMs },
      rejectionMessage(this.name, reason, rate, queued, retryAfterMs, waitedMs),
    );
    if (this.#events.wants('reject')) {
      this.#events.emit('reject', { regulator: this.name, at: now, reason, error });
    }
    return error;
  }
}

function rejectionMessage(
  name: string,
  reason: RejectReason,
  rate: number,
  queued: number,
  retryAfterMs: number,
  waitedMs: number,
): string {
  const state = `(rate ${Math.round(rate * 100) / 100}/s, queued ${queued})`;
  const waited = waitedMs > 0 ? ` after waiting ${Math.round(waitedMs)} ms` : '';
  const retry = `; retry after ${Math.ceil(retryAfterMs)} ms`;
  const who = `sluice: regulator "${name}"`;
  switch (reason) {
    case 'aborted':
      return `${who}: aborted while waiting${waited} ${state}`;
    case 'queue-full':
      return `${who}: queue full ${state}${retry}`;
    case 'deadline':
      return `${who}: deadline cannot be met${waited} ${state}${retry}`;
    case 'queue-timeout':
      return `${who}: wait would exceed the queue timeout${waited} ${state}${retry}`;
    default:
      return `${who}: out of tokens ${state}${retry}`;
  }
}
