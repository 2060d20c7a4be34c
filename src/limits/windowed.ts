import { ConfigError } from '../core/errors.ts';
import { integer, or, positive } from '../core/validate.ts';
import { BaseLimit, type Limit, type LimitSample } from './limit.ts';
import { weight } from './shared.ts';

export interface WindowedOptions {
  /**
   * Shortest window (ms). A window closes at the first sample after it has lasted this long and holds
   * `minSamples` samples, or a drop; with fewer samples it stays open, so a quiet service gets longer windows
   * rather than decisions made from a handful of requests. Default 100.
   */
  readonly window?: number;
  /** Fewest samples a window needs before it closes (a drop closes it regardless), >= 1. Default 10. */
  readonly minSamples?: number;
  /**
   * The window's latency sent to the wrapped limit: this percentile of its successful requests' round trips,
   * in (0, 1] (0.5 is the median). Absent, the window's minimum is sent. A percentile suits downstreams whose
   * latency varies between requests: a window's median is steady where its minimum tracks outliers.
   * Default absent (minimum).
   */
  readonly percentile?: number;
  /**
   * Most round trips kept per window for the percentile; past this a uniform sample of them is kept, so a
   * window's memory is bounded under any load. >= 1. Default 4096.
   */
  readonly maxSamples?: number;
}

/**
 * Aggregates samples over a window of time and feeds the wrapped limit one sample per window: the minimum
 * (or a percentile) round trip of the successful requests, the mean of their requests in flight (the
 * concurrency that latency was measured at; the most would overstate it under bursty arrivals and make a
 * queue estimate blame too many requests), and `dropped` if any request dropped. Time comes from `sample.now`; there are no timers. The wrapped limit then decides from a
 * steady signal instead of per-request noise, at most once per window. This limit mirrors the wrapped one:
 * the same current value and change records.
 */
export class WindowedLimit extends BaseLimit {
  readonly name: string;
  /** The wrapped algorithm. */
  readonly limit: Limit;
  /** As the wrapped limit: a fixed limit stays fixed however its samples are grouped. */
  readonly fixed: boolean;
  readonly #window: number;
  readonly #minSamples: number;
  readonly #percentile: number | undefined;
  readonly #maxSamples: number;
  #start = Number.NaN;
  #count = 0;
  #succeeded = 0;
  #min = Number.POSITIVE_INFINITY;
  #inflight = 0;
  #dropped = false;
  #dropRtt = 0;
  #rtts: Float64Array;
  #random = 0x9e3779b9;

  constructor(limit: Limit, options: WindowedOptions = {}) {
    if (typeof limit !== 'object' || limit === null || typeof limit.update !== 'function') {
      throw new ConfigError('windowed.limit', limit, 'a Limit');
    }
    const bounds = limit instanceof BaseLimit ? { min: limit.min, max: limit.max } : {};
    super(
      'windowed',
      { initial: limit.current, ...bounds },
      { initial: 1, min: 1, max: Number.MAX_SAFE_INTEGER },
    );
    this.name = `windowed(${limit.name})`;
    this.limit = limit;
    this.fixed = limit.fixed === true;
    this.#window = positive('windowed.window', or(options.window, 100));
    this.#minSamples = integer('windowed.minSamples', or(options.minSamples, 10), 1);
    this.#percentile =
      options.percentile === undefined ? undefined : weight('windowed.percentile', options.percentile);
    this.#maxSamples = integer('windowed.maxSamples', or(options.maxSamples, 4096), 1);
    this.#rtts = new Float64Array(this.#percentile === undefined ? 0 : Math.min(64, this.#maxSamples));
    limit.onChange((change) => {
      this.set(change.limit, change.rule, change.signals);
    });
  }

  update(sample: LimitSample): number {
    const rtt = sample.rtt;
    if (!(rtt >= 0 && rtt < Number.POSITIVE_INFINITY)) return this.current;
    if (Number.isNaN(this.#start)) this.#start = sample.now;
    this.#count++;
    this.#inflight += sample.inflight;
    if (sample.dropped) {
      this.#dropped = true;
      if (rtt > this.#dropRtt) this.#dropRtt = rtt;
    } else {
      if (rtt < this.#min) this.#min = rtt;
      if (this.#percentile !== undefined) this.#keep(rtt);
      this.#succeeded++;
    }
    if (sample.now - this.#start < this.#window || (this.#count < this.#minSamples && !this.#dropped)) {
      return this.current;
    }
    const aggregated: LimitSample = {
      now: sample.now,
      rtt: this.#succeeded === 0 ? this.#dropRtt : this.#latency(),
      inflight: this.#inflight / this.#count,
      dropped: this.#dropped,
    };
    this.#start = sample.now;
    this.#count = 0;
    this.#succeeded = 0;
    this.#min = Number.POSITIVE_INFINITY;
    this.#inflight = 0;
    this.#dropped = false;
    this.#dropRtt = 0;
    this.limit.update(aggregated);
    return this.current;
  }

  // Reservoir sampling (Vitter's algorithm R) once the window holds more than `maxSamples` round trips.
  #keep(rtt: number): void {
    const n = this.#succeeded;
    if (n < this.#maxSamples) {
      if (n === this.#rtts.length) {
        const grown = new Float64Array(Math.min(this.#maxSamples, n * 2));
        grown.set(this.#rtts);
        this.#rtts = grown;
      }
      this.#rtts[n] = rtt;
      return;
    }
    const j = Math.floor(this.#next() * (n + 1));
    if (j < this.#maxSamples) this.#rtts[j] = rtt;
  }

  #latency(): number {
    if (this.#percentile === undefined) return this.#min;
    const n = Math.min(this.#succeeded, this.#maxSamples);
    const rank = Math.ceil(this.#percentile * n) - 1;
    return select(this.#rtts, n, Math.max(0, Math.min(n - 1, rank)));
  }

  // xorshift32: deterministic, so the same samples always give the same limit.
  #next(): number {
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x >>> 0;
    return this.#random / 4294967296;
  }
}

/**
 * The `k`-th smallest (from 0) of `values[0, n)`, reordering that range in place: Hoare's quickselect with a
 * median-of-three pivot. Written here rather than sorting: a window at a busy server holds thousands of round
 * trips, and sorting them at every window was the limit's largest cost per request (profiled under
 * hello-world load); selection is linear on average.
 */
export function select(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Order values[lo], values[mid], values[hi]; the middle one is the pivot.
    if (values[mid]! < values[lo]!) swap(values, mid, lo);
    if (values[hi]! < values[lo]!) swap(values, hi, lo);
    if (values[hi]! < values[mid]!) swap(values, hi, mid);
    const pivot = values[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        swap(values, i, j);
        i++;
        j--;
      }
    }
    // Now values[lo..j] <= pivot <= values[i..hi], and anything strictly between j and i equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}

function swap(values: Float64Array, a: number, b: number): void {
  const t = values[a]!;
  values[a] = values[b]!;
  values[b] = t;
}

/** Wraps `limit` so that it sees one aggregated sample per window; see {@link WindowedLimit}. */
export function windowed(limit: Limit, options?: WindowedOptions): WindowedLimit {
  return new WindowedLimit(limit, options);
}
