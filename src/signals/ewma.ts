import { ConfigError } from '../core/errors.ts';
import { or, positive } from '../core/validate.ts';

export interface EwmaOptions {
  /**
   * Half-life in ms: the weight of the past halves every `halfLife` ms, whatever the number of samples in
   * between. A sample arriving `dt` ms after the previous one moves the value by `1 - 2^(-dt / halfLife)` of
   * the gap. Default 1000. Not allowed together with `alpha`.
   */
  readonly halfLife?: number;
  /**
   * Count-based smoothing instead: every sample moves the value by `alpha` of the gap, whatever the time
   * between samples (`now` is then ignored). In (0, 1]; 1 means no smoothing. Default: unset (time-based).
   */
  readonly alpha?: number;
}

/**
 * Exponentially weighted moving average, decayed by elapsed time so that irregular sampling is handled
 * exactly: it is the continuous-time EWMA of a signal that holds each sample's value over the interval
 * leading up to it. Two consequences worth knowing:
 *
 * - Samples sharing a timestamp are averaged and together take the weight of the interval since the
 *   previous timestamp, so a burst completing in one tick of a virtual clock counts as one mean, not as
 *   "the first sample wins".
 * - With no samples the value holds; it does not decay towards anything.
 *
 * `value` is NaN until the first sample (NaN, not `undefined`, so that it stays a number on the hot path;
 * test with `Number.isNaN` or `samples === 0`). The first sample sets the value outright, so there is no
 * start-up bias towards 0. Time is assumed monotonic: a sample older than the last is counted at the
 * last timestamp. O(1), allocation-free.
 */
export class Ewma {
  /** Per-ms decay exponent, `1 / halfLife`; 0 in count-based mode. */
  readonly #rate: number;
  readonly #alpha: number;
  #value = Number.NaN;
  #samples = 0;
  /** Value before the current timestamp's samples, their weight, and their running sum and count. */
  #base = Number.NaN;
  #weight = 1;
  #tickSum = 0;
  #tickCount = 0;
  #last = Number.NEGATIVE_INFINITY;

  constructor(options?: EwmaOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    const alpha = options?.alpha;
    if (alpha !== undefined) {
      if (options?.halfLife !== undefined) {
        throw new ConfigError('alpha', alpha, 'unset when halfLife is set (choose time- or count-based)');
      }
      if (typeof alpha !== 'number' || !(alpha > 0 && alpha <= 1)) {
        throw new ConfigError('alpha', alpha, 'a number in (0, 1]');
      }
      this.#alpha = alpha;
      this.#rate = 0;
    } else {
      this.#alpha = 0;
      this.#rate = 1 / positive('halfLife', or(options?.halfLife, 1000));
    }
  }

  /** The smoothed value; NaN before the first sample. */
  get value(): number {
    return this.#value;
  }

  /** Samples seen since construction or the last `reset`. */
  get samples(): number {
    return this.#samples;
  }

  /** Feeds `value` observed at `now` (ms); returns the smoothed value. Non-finite values are ignored. */
  update(value: number, now: number): number {
    if (!Number.isFinite(value)) return this.#value;
    this.#samples++;
    if (this.#alpha > 0) {
      this.#value = this.#samples === 1 ? value : this.#value + this.#alpha * (value - this.#value);
      return this.#value;
    }
    if (now > this.#last) {
      // A new timestamp: freeze the value so far and weigh the new tick by the time elapsed since the last.
      this.#weight = this.#samples === 1 ? 1 : 1 - 2 ** ((this.#last - now) * this.#rate);
      this.#base = this.#value;
      this.#tickSum = 0;
      this.#tickCount = 0;
      this.#last = now;
    }
    this.#tickSum += value;
    this.#tickCount++;
    const mean = this.#tickSum / this.#tickCount;
    this.#value = this.#weight === 1 ? mean : this.#base + this.#weight * (mean - this.#base);
    return this.#value;
  }

  /** Forgets every sample; `value` is NaN again. */
  reset(): void {
    this.#value = Number.NaN;
    this.#samples = 0;
    this.#base = Number.NaN;
    this.#weight = 1;
    this.#tickSum = 0;
    this.#tickCount = 0;
    this.#last = Number.NEGATIVE_INFINITY;
  }
}
