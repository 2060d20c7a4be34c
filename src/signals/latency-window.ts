import {
  BUCKETS,
  bucketOf,
  checkQuantile,
  type LatencySnapshot,
  OCTAVE_SHIFT,
  OCTAVES,
  percentileOf,
} from './histogram.ts';
import { SlotRing, windowOptions } from './slot-ring.ts';

export interface LatencyWindowOptions {
  /** Length of the sliding window in ms. Default 10 000 (10 s). */
  readonly window?: number;
  /**
   * Slots the window is split into, an integer in [1, 1000]. Samples leave the window a whole slot at a
   * time, so the window covers between `window - window / slots` and `window` ms of the recent past.
   * Each slot costs 4 KiB. Default 10.
   */
  readonly slots?: number;
}

/**
 * The latency distribution of the last `window` ms, with percentiles. A ring of log-linear histograms (see
 * `histogram.ts`): memory is `(slots + 1) * 4 KiB` whatever the load; `record` is O(1) and allocation-free;
 * percentiles are within 1.6 % of the exact nearest-rank value for samples between ~1 µs and ~70 min.
 *
 * Time is passed in (`now`, ms from the caller's `Clock`) and assumed monotonic. Slots that fall out of the
 * window are cleared lazily, by the first call that sees time has moved past them.
 */
export class LatencyWindow {
  readonly #ring: SlotRing;
  /** Per-slot bucket counts, slot `i` at `[i * BUCKETS, (i + 1) * BUCKETS)`. */
  readonly #counts: Uint32Array;
  /** Sum of `#counts` over all slots, kept incrementally so a percentile scans one histogram. */
  readonly #merged = new Uint32Array(BUCKETS);
  /** Sum of `#merged` per octave. */
  readonly #octaves = new Uint32Array(OCTAVES);
  readonly #slotCount: Float64Array;
  readonly #slotSum: Float64Array;
  readonly #slotMin: Float64Array;
  readonly #slotMax: Float64Array;

  constructor(options?: LatencyWindowOptions) {
    const { window, slots } = windowOptions(options);
    this.#ring = new SlotRing(window, slots);
    this.#counts = new Uint32Array(slots * BUCKETS);
    this.#slotCount = new Float64Array(slots);
    this.#slotSum = new Float64Array(slots);
    this.#slotMin = new Float64Array(slots).fill(Number.POSITIVE_INFINITY);
    this.#slotMax = new Float64Array(slots).fill(Number.NEGATIVE_INFINITY);
  }

  /** Length of the window in ms. */
  get window(): number {
    return this.#ring.slotMs * this.#ring.size;
  }

  /** Adds one latency (ms) observed at `now`. NaN, negative and infinite latencies are ignored. */
  record(ms: number, now: number): void {
    if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY)) return;
    const steps = this.#ring.advance(now);
    if (steps > 0) this.#expire(steps);
    const slot = this.#ring.head;
    const b = bucketOf(ms);
    this.#counts[slot * BUCKETS + b]!++;
    this.#merged[b]!++;
    this.#octaves[b >> OCTAVE_SHIFT]!++;
    this.#slotCount[slot]!++;
    this.#slotSum[slot]! += ms;
    if (ms < this.#slotMin[slot]!) this.#slotMin[slot] = ms;
    if (ms > this.#slotMax[slot]!) this.#slotMax[slot] = ms;
  }

  /** Samples in the window at `now`. */
  count(now: number): number {
    this.#advance(now);
    let n = 0;
    for (const c of this.#slotCount) n += c;
    return n;
  }

  /**
   * Nearest-rank percentile of the window at `now`, for `q` in [0, 1] (0.99 is p99): the smallest latency
   * with at least `q` of the samples at or below it. `q` 0 and 1 give the exact min and max. NaN when the
   * window is empty. Throws a `RangeError` for a `q` outside [0, 1].
   */
  percentile(q: number, now: number): number {
    checkQuantile(q);
    this.#advance(now);
    let n = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.#ring.size; i++) {
      n += this.#slotCount[i]!;
      if (this.#slotMin[i]! < min) min = this.#slotMin[i]!;
      if (this.#slotMax[i]! > max) max = this.#slotMax[i]!;
    }
    return percentileOf(this.#merged, this.#octaves, n, q, min, max);
  }

  /** Count, mean, min, max and p50/p90/p99 of the window at `now`; all but `count` NaN when empty. */
  snapshot(now: number): LatencySnapshot {
    this.#advance(now);
    let n = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.#ring.size; i++) {
      n += this.#slotCount[i]!;
      sum += this.#slotSum[i]!;
      if (this.#slotMin[i]! < min) min = this.#slotMin[i]!;
      if (this.#slotMax[i]! > max) max = this.#slotMax[i]!;
    }
    if (n === 0) {
      const nan = Number.NaN;
      return { count: 0, mean: nan, min: nan, max: nan, p50: nan, p90: nan, p99: nan };
    }
    const merged = this.#merged;
    const octaves = this.#octaves;
    return {
      count: n,
      mean: sum / n,
      min,
      max,
      p50: percentileOf(merged, octaves, n, 0.5, min, max),
      p90: percentileOf(merged, octaves, n, 0.9, min, max),
      p99: percentileOf(merged, octaves, n, 0.99, min, max),
    };
  }

  /** Forgets every sample. */
  reset(): void {
    this.#counts.fill(0);
    this.#merged.fill(0);
    this.#octaves.fill(0);
    this.#slotCount.fill(0);
    this.#slotSum.fill(0);
    this.#slotMin.fill(Number.POSITIVE_INFINITY);
    this.#slotMax.fill(Number.NEGATIVE_INFINITY);
  }

  #advance(now: number): void {
    const steps = this.#ring.advance(now);
    if (steps > 0) this.#expire(steps);
  }

  /** Clears the `steps` slots that just became current, taking their counts out of the merged histogram. */
  #expire(steps: number): void {
    const size = this.#ring.size;
    if (steps >= size) {
      this.reset();
      return;
    }
    const counts = this.#counts;
    const merged = this.#merged;
    const octaves = this.#octaves;
    for (let j = 0; j < steps; j++) {
      const slot = (this.#ring.head - j + size) % size;
      if (this.#slotCount[slot] === 0) continue;
      const base = slot * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) {
        const c = counts[base + b]!;
        if (c !== 0) {
          merged[b]! -= c;
          octaves[b >> OCTAVE_SHIFT]! -= c;
        }
      }
      counts.fill(0, base, base + BUCKETS);
      this.#slotCount[slot] = 0;
      this.#slotSum[slot] = 0;
      this.#slotMin[slot] = Number.POSITIVE_INFINITY;
      this.#slotMax[slot] = Number.NEGATIVE_INFINITY;
    }
  }
}
