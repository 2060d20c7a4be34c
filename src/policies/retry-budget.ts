import { type Clock, systemClock } from '../core/clock.ts';
import { finite, or, positive } from '../core/validate.ts';

/** The window is kept as this many buckets: it covers between 90% and 100% of `window`. */
const BUCKETS = 10;

export interface RetryBudgetOptions {
  /**
   * Retries allowed per first attempt, over the window: 0.1 lets retries add at most 10% to the load a
   * downstream sees, however badly it fails. Default 0.1.
   */
  readonly ratio?: number;
  /**
   * Retries per second allowed regardless of traffic (counted over the window), so that a caller making
   * few calls can still retry a transient failure. Default 1.
   */
  readonly minPerSecond?: number;
  /** Length of the sliding window (ms) over which first attempts and retries are counted. Default 10000. */
  readonly window?: number;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface RetryBudgetSnapshot {
  /** First attempts recorded in the window. */
  readonly firsts: number;
  /** Retries recorded in the window. */
  readonly retries: number;
  /** Retries the window allows in all: `ratio * firsts + minPerSecond * window / 1000`. */
  readonly allowance: number;
}

/**
 * A budget for retries, shared by every retry policy that calls one downstream (one budget per origin,
 * say), so that retries can never multiply an overload: during an outage, attempts stay within
 * `(1 + ratio)` times first attempts, plus the small floor.
 *
 * Invariant: whenever `canRetry()` is true and a retry is recorded, the retries counted in the window
 * (including it) are at most `ratio * firsts + minPerSecond * window / 1000`, where the window counts events
 * from the last `window` ms at most, and retries from at least the last `0.9 * window` ms.
 */
export interface RetryBudget {
  /** True while one more retry fits the budget. Does not record anything. */
  canRetry(): boolean;
  /** Records a first attempt (a call, not a retry). */
  recordAttempt(): void;
  /** Records a retry, whether or not `canRetry()` was asked. */
  recordRetry(): void;
  /** Counts in the window, for metrics and dashboards. */
  snapshot(): RetryBudgetSnapshot;
}

class BucketedRetryBudget implements RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #width: number;
  readonly #clock: Clock;
  // Ring buffers indexed by bucket number modulo BUCKETS; #epoch is the bucket holding now.
  readonly #firsts = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #firstsTotal = 0;
  #retriesTotal = 0;
  #epoch: number;

  constructor(options: RetryBudgetOptions) {
    this.#ratio = finite('ratio', or(options.ratio, 0.1), 0);
    const floor = finite('minPerSecond', or(options.minPerSecond, 1), 0);
    const window = positive('window', or(options.window, 10_000));
    this.#reserve = (floor * window) / 1000;
    this.#width = window / BUCKETS;
    this.#clock = or(options.clock, systemClock);
    this.#epoch = Math.floor(this.#clock.now() / this.#width);
  }

  canRetry(): boolean {
    this.#roll();
    return this.#retriesTotal + 1 <= this.#ratio * this.#firstsTotal + this.#reserve;
  }

  recordAttempt(): void {
    this.#roll();
    this.#firsts[slot(this.#epoch)]! += 1;
    this.#firstsTotal += 1;
  }

  recordRetry(): void {
    this.#roll();
    this.#retries[slot(this.#epoch)]! += 1;
    this.#retriesTotal += 1;
  }

  snapshot(): RetryBudgetSnapshot {
    this.#roll();
    return {
      firsts: this.#firstsTotal,
      retries: this.#retriesTotal,
      allowance: this.#ratio * this.#firstsTotal + this.#reserve,
    };
  }

  /** Moves the window to now, emptying the buckets that fall out of it. */
  #roll(): void {
    const epoch = Math.floor(this.#clock.now() / this.#width);
    if (epoch <= this.#epoch) return;
    if (epoch - this.#epoch >= BUCKETS) {
      this.#firsts.fill(0);
      this.#retries.fill(0);
      this.#firstsTotal = 0;
      this.#retriesTotal = 0;
    } else {
      for (let e = this.#epoch + 1; e <= epoch; e++) {
        const i = slot(e);
        this.#firstsTotal -= this.#firsts[i]!;
        this.#retriesTotal -= this.#retries[i]!;
        this.#firsts[i] = 0;
        this.#retries[i] = 0;
      }
    }
    this.#epoch = epoch;
  }
}

/** Ring index of bucket number `e` (which is negative on a clock that starts below zero). */
function slot(e: number): number {
  const i = e % BUCKETS;
  return i < 0 ? i + BUCKETS : i;
}

/**
 * A sliding-window retry budget (after Finagle's RetryBudget and the gRPC retry throttling proposal):
 * retries may add at most `ratio` times the first attempts seen over the last `window`, plus
 * `minPerSecond` per second of it. Pass the same budget to every retry policy in front of one downstream.
 *
 * ```ts
 * const budget = createRetryBudget({ ratio: 0.1 });
 * const retry = createRetry({ attempts: 4, budget });
 * ```
 */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  return new BucketedRetryBudget(options);
}
