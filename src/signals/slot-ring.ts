import { ConfigError } from '../core/errors.ts';
import { integer, or, positive } from '../core/validate.ts';

/**
 * The time bookkeeping shared by the sliding windows: a window of `size` slots, each `slotMs` wide and
 * aligned to multiples of `slotMs` on the clock. Slot `head` holds the current slot; walking back from it,
 * slot `head - j` (mod size) holds the slot `j` periods older. The owner keeps the per-slot data and clears
 * the slots `advance` reports as reused, so every slot always holds data from inside the window only.
 *
 * Time is assumed monotonic: a `now` earlier than the current slot is counted in the current slot.
 */
export class SlotRing {
  readonly size: number;
  readonly slotMs: number;
  /** Index of the current slot. */
  head = 0;
  /** Start of the current slot (ms); `-Infinity` before the first `advance`. */
  #start = -Infinity;
  /** End of the current slot (exclusive). `-Infinity` before the first `advance`, so it takes the slow path. */
  #end = -Infinity;
  #epoch = 0;
  /** Time of the first `advance`; the window never claims to cover time before it. */
  #origin = Number.NaN;

  constructor(window: number, slots: number) {
    this.size = slots;
    this.slotMs = window / slots;
  }

  /**
   * Moves the current slot to the one holding `now`. Returns how many slots became current on the way and
   * must be cleared by the owner: `head`, `head - 1`, ... (mod size), at most `size`. 0 on the fast path.
   */
  advance(now: number): number {
    if (now < this.#end) return 0;
    const epoch = Math.floor(now / this.slotMs);
    this.#start = epoch * this.slotMs;
    this.#end = this.#start + this.slotMs;
    if (Number.isNaN(this.#origin)) {
      this.#origin = now;
      this.#epoch = epoch;
      return 0;
    }
    const elapsed = epoch - this.#epoch;
    if (elapsed <= 0) return 0;
    this.#epoch = epoch;
    const steps = Math.min(elapsed, this.size);
    this.head = (this.head + steps) % this.size;
    return steps;
  }

  /**
   * Start of the time the window covers after `advance(now)`: the oldest slot's start, or the first
   * observation if that is later. Between `window - slotMs` and `window` before `now` once warmed up.
   */
  coveredSince(): number {
    const oldest = this.#start - (this.size - 1) * this.slotMs;
    return Math.max(oldest, this.#origin);
  }
}

/** Validated `window` and `slots` options (defaults 10 s and 10). */
export function windowOptions(options: { readonly window?: number; readonly slots?: number } | undefined): {
  window: number;
  slots: number;
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError('options', options, 'an object');
  }
  const window = positive('window', or(options?.window, 10_000));
  const slots = integer('slots', or(options?.slots, 10), 1, 1000);
  return { window, slots };
}
