import { SlotRing, windowOptions } from './slot-ring.ts';

export interface RateMeterOptions {
  /** Length of the sliding window in ms. Default 10 000 (10 s). */
  readonly window?: number;
  /**
   * Slots the window is split into, an integer in [1, 1000]. Events leave the window a whole slot at a time.
   * Default 10.
   */
  readonly slots?: number;
}

/**
 * Events (or weighted amounts: bytes, cost) per second over a sliding window. Constant memory (one number
 * per slot); `mark` is O(1) and allocation-free. Time is passed in (`now`, ms from the caller's `Clock`) and
 * assumed monotonic; slots that leave the window are cleared lazily.
 *
 * The rate divides the window's total by the time the window actually covers (from the start of its oldest
 * slot, or from the first call if that is later, to `now`), so it is unbiased for a steady stream while the
 * current slot is only partly filled and during warm-up. That time is floored at one slot, so a lone early
 * event does not read as a burst.
 */
export class RateMeter {
  readonly #ring: SlotRing;
  readonly #amounts: Float64Array;

  constructor(options?: RateMeterOptions) {
    const { window, slots } = windowOptions(options);
    this.#ring = new SlotRing(window, slots);
    this.#amounts = new Float64Array(slots);
  }

  /** Length of the window in ms. */
  get window(): number {
    return this.#ring.slotMs * this.#ring.size;
  }

  /** Counts `amount` (default 1) at `now`. NaN, negative and infinite amounts are ignored. */
  mark(now: number, amount = 1): void {
    if (!(amount >= 0 && amount < Number.POSITIVE_INFINITY)) return;
    const steps = this.#ring.advance(now);
    if (steps > 0) this.#expire(steps);
    this.#amounts[this.#ring.head]! += amount;
  }

  /** Sum of the amounts in the window at `now`. */
  total(now: number): number {
    const steps = this.#ring.advance(now);
    if (steps > 0) this.#expire(steps);
    let sum = 0;
    for (const a of this.#amounts) sum += a;
    return sum;
  }

  /** Amount per second over the window at `now`; 0 before anything is marked. */
  rate(now: number): number {
    const sum = this.total(now);
    if (sum === 0) return 0;
    const covered = Math.max(now - this.#ring.coveredSince(), this.#ring.slotMs);
    return (sum * 1000) / covered;
  }

  /** Forgets every event. */
  reset(): void {
    this.#amounts.fill(0);
  }

  #expire(steps: number): void {
    const size = this.#ring.size;
    for (let j = 0; j < steps; j++) this.#amounts[(this.#ring.head - j + size) % size] = 0;
  }
}
