/**
 * Sliding windows of call outcomes for the breaker's rate rules. Each keeps running totals, so recording an
 * outcome and reading the totals cost O(1) (a time window also clears the buckets it rolls past, at most
 * its bucket count). Memory is fixed at construction.
 */
export interface OutcomeWindow {
  /** Calls in the window, as of the last `record` or `roll`. */
  readonly calls: number;
  /** Failed calls in the window. */
  readonly failures: number;
  /** Slow calls in the window (failed or not). */
  readonly slow: number;
  /** Drops what has left the window at `now`. */
  roll(now: number): void;
  /** Adds one outcome at `now` (after rolling to `now`). */
  record(now: number, failed: boolean, slow: boolean): void;
  /** Forgets every outcome. */
  clear(): void;
}

const FAILED = 1;
const SLOW = 2;

/** The last `size` calls, whenever they happened. */
export class CountWindow implements OutcomeWindow {
  readonly size: number;
  readonly #ring: Uint8Array;
  #next = 0;
  #filled = 0;
  #failures = 0;
  #slow = 0;

  constructor(size: number) {
    this.size = size;
    this.#ring = new Uint8Array(size);
  }

  get calls(): number {
    return this.#filled;
  }
  get failures(): number {
    return this.#failures;
  }
  get slow(): number {
    return this.#slow;
  }

  roll(_now: number): void {}

  record(_now: number, failed: boolean, slow: boolean): void {
    const i = this.#next;
    if (this.#filled === this.size) {
      const old = this.#ring[i]!;
      if (old & FAILED) this.#failures--;
      if (old & SLOW) this.#slow--;
    } else {
      this.#filled++;
    }
    this.#ring[i] = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (failed) this.#failures++;
    if (slow) this.#slow++;
    this.#next = i + 1 === this.size ? 0 : i + 1;
  }

  clear(): void {
    this.#next = 0;
    this.#filled = 0;
    this.#failures = 0;
    this.#slow = 0;
  }
}

/**
 * The calls of the last `duration` ms, in `buckets` steps of `duration / buckets` ms: a call leaves the
 * window between `duration - step` and `duration` after it was recorded. More buckets, finer expiry.
 */
export class TimeWindow implements OutcomeWindow {
  readonly duration: number;
  readonly buckets: number;
  readonly #step: number;
  readonly #calls: Uint32Array;
  readonly #failed: Uint32Array;
  readonly #slowed: Uint32Array;
  /** Number (time / step, floored) of the newest bucket; every older bucket still in the ring is current. */
  #head = Number.NEGATIVE_INFINITY;
  #total = 0;
  #failures = 0;
  #slow = 0;

  constructor(duration: number, buckets: number) {
    this.duration = duration;
    this.buckets = buckets;
    this.#step = duration / buckets;
    this.#calls = new Uint32Array(buckets);
    this.#failed = new Uint32Array(buckets);
    this.#slowed = new Uint32Array(buckets);
  }

  get calls(): number {
    return this.#total;
  }
  get failures(): number {
    return this.#failures;
  }
  get slow(): number {
    return this.#slow;
  }

  roll(now: number): void {
    const k = Math.floor(now / this.#step);
    // A clock that moved back records into the newest bucket rather than rewriting history.
    if (k <= this.#head) return;
    const n = this.buckets;
    for (let j = Math.max(this.#head + 1, k - n + 1); j <= k; j++) {
      const i = mod(j, n);
      this.#total -= this.#calls[i]!;
      this.#failures -= this.#failed[i]!;
      this.#slow -= this.#slowed[i]!;
      this.#calls[i] = 0;
      this.#failed[i] = 0;
      this.#slowed[i] = 0;
    }
    this.#head = k;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    this.roll(now);
    const i = mod(this.#head, this.buckets);
    this.#calls[i]!++;
    this.#total++;
    if (failed) {
      this.#failed[i]!++;
      this.#failures++;
    }
    if (slow) {
      this.#slowed[i]!++;
      this.#slow++;
    }
  }

  clear(): void {
    this.#calls.fill(0);
    this.#failed.fill(0);
    this.#slowed.fill(0);
    this.#total = 0;
    this.#failures = 0;
    this.#slow = 0;
  }
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}
