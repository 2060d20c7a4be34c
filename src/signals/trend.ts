import { ConfigError } from '../core/errors.ts';
import { or, positive } from '../core/validate.ts';

export interface TrendGaugeOptions {
  /**
   * Half-life (ms) of the level's smoothing: how fast the level lets go of old readings. Default 2000.
   */
  readonly levelHalfLife?: number;
  /**
   * Half-life (ms) of the slope's smoothing. Longer than the level's, so that noise in the level does not
   * read as a trend. Default 5000.
   */
  readonly trendHalfLife?: number;
}

/**
 * A gauge sampled over time (a backlog depth, a pool size, memory in use) smoothed into a level and a slope
 * in units per second, with a linear forecast. Holt's linear (double exponential) smoothing, with both
 * smoothing weights derived from the time since the previous reading (`1 - 2^(-dt / halfLife)`), so that
 * irregular sampling is handled: a long gap trusts the new reading more, a short one less.
 *
 * Properties: a noiseless linear ramp is tracked exactly from the second reading on (level and slope), since
 * the slope starts from the first two readings and Holt's update leaves an exact prediction unchanged; a
 * noisy ramp gives its slope up to noise smoothed over about `trendHalfLife`. Readings sharing a timestamp
 * are averaged into one. Time is assumed monotonic: a reading older than the last counts at the last
 * timestamp. O(1), allocation-free.
 */
export class TrendGauge {
  readonly #levelRate: number;
  readonly #trendRate: number;
  #level = Number.NaN;
  /** Units per ms. */
  #slope = Number.NaN;
  /** Distinct timestamps seen. */
  #ticks = 0;
  #samples = 0;
  #last = Number.NEGATIVE_INFINITY;
  // State before the current timestamp's readings, and their running sum and count.
  #level0 = Number.NaN;
  #slope0 = Number.NaN;
  #dt = 0;
  #alpha = 1;
  #beta = 1;
  #tickSum = 0;
  #tickCount = 0;

  constructor(options?: TrendGaugeOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    this.#levelRate = 1 / positive('levelHalfLife', or(options?.levelHalfLife, 2000));
    this.#trendRate = 1 / positive('trendHalfLife', or(options?.trendHalfLife, 5000));
  }

  /** Smoothed level (in the gauge's units); NaN before the first reading. */
  get level(): number {
    return this.#level;
  }

  /** Smoothed slope in units per second; NaN until readings at two distinct times. */
  get slope(): number {
    return this.#slope * 1000;
  }

  /** Readings seen since construction or the last `reset`. */
  get samples(): number {
    return this.#samples;
  }

  /** Time (ms) of the latest reading; `-Infinity` before the first. */
  get lastAt(): number {
    return this.#last;
  }

  /**
   * The level expected `horizonMs` after the latest reading: `level + slope * horizon`. Equals `level` while
   * the slope is unknown; NaN before the first reading. For a forecast from a later time `now`, pass
   * `now - lastAt + horizon`.
   */
  forecast(horizonMs: number): number {
    if (this.#ticks < 2) return this.#level;
    return this.#level + this.#slope * horizonMs;
  }

  /** Feeds a reading of the gauge at `now` (ms). Non-finite values are ignored. */
  update(value: number, now: number): void {
    if (!Number.isFinite(value)) return;
    this.#samples++;
    if (now > this.#last) {
      this.#ticks++;
      this.#dt = now - this.#last;
      this.#level0 = this.#level;
      this.#slope0 = this.#slope;
      this.#alpha = 1 - 2 ** (-this.#dt * this.#levelRate);
      this.#beta = 1 - 2 ** (-this.#dt * this.#trendRate);
      this.#tickSum = 0;
      this.#tickCount = 0;
      this.#last = now;
    }
    this.#tickSum += value;
    this.#tickCount++;
    const x = this.#tickSum / this.#tickCount;
    if (this.#ticks === 1) {
      this.#level = x;
    } else if (this.#ticks === 2) {
      this.#level = x;
      this.#slope = (x - this.#level0) / this.#dt;
    } else {
      const predicted = this.#level0 + this.#slope0 * this.#dt;
      const level = predicted + this.#alpha * (x - predicted);
      this.#level = level;
      this.#slope = this.#slope0 + this.#beta * ((level - this.#level0) / this.#dt - this.#slope0);
    }
  }

  /** Forgets every reading. */
  reset(): void {
    this.#level = Number.NaN;
    this.#slope = Number.NaN;
    this.#ticks = 0;
    this.#samples = 0;
    this.#last = Number.NEGATIVE_INFINITY;
    this.#level0 = Number.NaN;
    this.#slope0 = Number.NaN;
    this.#dt = 0;
    this.#tickSum = 0;
    this.#tickCount = 0;
  }
}
