import { ConfigError } from '../core/errors.ts';
import { fraction, integer, nonNegative, or, positive } from '../core/validate.ts';
import { Ewma } from '../signals/ewma.ts';
import { RateMeter } from '../signals/rate.ts';
import { TrendGauge } from '../signals/trend.ts';
import type { Signal } from './types.ts';

export interface SignalAnalyserOptions {
  /**
   * How far ahead `forecast` looks (ms): set it to the time new capacity takes to become ready, so that a
   * policy sizing on the forecast sizes for the load that capacity will meet. `accuracy` checks forecasts made
   * this far ahead. Default 30 000.
   */
  readonly horizon?: number;
  /** Half-life (ms) of `smoothed`, a time-decayed average (see `Ewma`). Default 30 000. */
  readonly halfLife?: number;
  /** Half-life (ms) of the trend's level (see `TrendGauge`). Default 15 000. */
  readonly levelHalfLife?: number;
  /**
   * Half-life (ms) of the trend's slope; longer than the level's, so that noise does not read as a trend
   * (see `TrendGauge`). Default 60 000.
   */
  readonly trendHalfLife?: number;
  /** How many checked forecasts `accuracy` averages over, an integer in [1, 1000]. Default 20. */
  readonly accuracyWindow?: number;
}

/** Forecasts waiting to be checked, at most; more frequent readings record one forecast per `horizon / PENDING`. */
const PENDING = 64;

/**
 * Turns the readings of one named signal, taken over time, into a {@link Signal}: the latest value, a
 * time-decayed average, a Holt linear trend with its forecast at `horizon`, how accurate that forecast has
 * been, and the age of the latest reading.
 *
 * Accuracy is `1 - mean error` over the last `accuracyWindow` forecasts whose time has come (forecasts are
 * recorded once the trend is known, from the second reading time on), where each forecast is compared with the readings around the moment it was made for (linearly interpolated between
 * the two readings that straddle it). The error of one forecast is `|actual - forecast| / max(|actual|,
 * |forecast|)`: the absolute percentage error measured against the larger of the two, so that it stays in
 * [0, 1], is symmetric in the ratio (forecasting half and forecasting double cost the same, 0.5) and is
 * defined when the actual value is 0 (a drained backlog). Plain MAPE is unbounded there and punishes an
 * over-forecast more than an under-forecast.
 *
 * Memory is constant: at most 64 forecasts wait to be checked (readings more frequent than `horizon / 64`
 * record a forecast only every `horizon / 64` ms) and `accuracyWindow` errors are kept. Time is assumed
 * monotonic: a reading older than the last counts at the last reading's time. Non-finite readings are
 * ignored (the signal keeps its last value and its `age` grows).
 */
export class SignalAnalyser {
  readonly #horizon: number;
  readonly #ewma: Ewma;
  readonly #trend: TrendGauge;
  #value = Number.NaN;
  #at = Number.NEGATIVE_INFINITY;
  #readings = 0;
  // Forecasts waiting for their time: a ring of (due, predicted).
  readonly #due = new Float64Array(PENDING);
  readonly #predicted = new Float64Array(PENDING);
  #pendingHead = 0;
  #pendingCount = 0;
  #lastRecorded = Number.NEGATIVE_INFINITY;
  // Errors of the latest checked forecasts: a ring with a running sum.
  readonly #errors: Float64Array;
  #errorHead = 0;
  #errorCount = 0;
  #errorSum = 0;

  constructor(options: SignalAnalyserOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('options', options, 'an object');
    }
    this.#horizon = nonNegative('analyser.horizon', or(options.horizon, 30_000));
    if (!Number.isFinite(this.#horizon)) {
      throw new ConfigError('analyser.horizon', this.#horizon, 'a finite number >= 0');
    }
    this.#ewma = new Ewma({ halfLife: positive('analyser.halfLife', or(options.halfLife, 30_000)) });
    this.#trend = new TrendGauge({
      levelHalfLife: positive('analyser.levelHalfLife', or(options.levelHalfLife, 15_000)),
      trendHalfLife: positive('analyser.trendHalfLife', or(options.trendHalfLife, 60_000)),
    });
    this.#errors = new Float64Array(
      integer('analyser.accuracyWindow', or(options.accuracyWindow, 20), 1, 1000),
    );
  }

  /** The forecast horizon (ms). */
  get horizon(): number {
    return this.#horizon;
  }

  /** Readings taken since construction or the last `reset`. */
  get readings(): number {
    return this.#readings;
  }

  /** Clock time (ms) of the latest reading; `-Infinity` before the first. */
  get lastAt(): number {
    return this.#at;
  }

  /** How well recent forecasts came true, in [0, 1]; 0 until one could be checked. */
  get accuracy(): number {
    if (this.#errorCount === 0) return 0;
    return Math.min(1, Math.max(0, 1 - this.#errorSum / this.#errorCount));
  }

  /** Takes a reading of `value` made at `at` (ms on the controller's clock). Non-finite values are ignored. */
  update(value: number, at: number): void {
    if (!Number.isFinite(value)) return;
    const now = this.#readings === 0 ? at : Math.max(at, this.#at);
    if (this.#readings > 0 && now > this.#at) {
      // Everything up to the previous reading is in: its forecast is final. Before a trend is known the
      // "forecast" is only the level, and scoring it would charge the forecast for a trend it never saw.
      if (!Number.isNaN(this.#trend.slope)) this.#record(this.#at, this.#trend.forecast(this.#horizon));
      this.#check(value, now);
    }
    this.#ewma.update(value, now);
    this.#trend.update(value, now);
    this.#value = value;
    this.#at = now;
    this.#readings++;
  }

  /** The signal as of `now` (ms); `undefined` before the first reading. */
  signal(now: number): Signal | undefined {
    if (this.#readings === 0) return undefined;
    const age = Math.max(0, now - this.#at);
    const slope = this.#trend.slope;
    return {
      value: this.#value,
      smoothed: this.#ewma.value,
      slope: Number.isNaN(slope) ? 0 : slope,
      forecast: this.#trend.forecast(age + this.#horizon),
      accuracy: this.accuracy,
      age,
    };
  }

  /** Forgets every reading, forecast and error. */
  reset(): void {
    this.#ewma.reset();
    this.#trend.reset();
    this.#value = Number.NaN;
    this.#at = Number.NEGATIVE_INFINITY;
    this.#readings = 0;
    this.#pendingHead = 0;
    this.#pendingCount = 0;
    this.#lastRecorded = Number.NEGATIVE_INFINITY;
    this.#errorHead = 0;
    this.#errorCount = 0;
    this.#errorSum = 0;
  }

  #record(madeAt: number, predicted: number): void {
    if (madeAt - this.#lastRecorded < this.#horizon / PENDING) return;
    this.#lastRecorded = madeAt;
    if (this.#pendingCount === PENDING) this.#dropPending();
    const slot = (this.#pendingHead + this.#pendingCount) % PENDING;
    this.#due[slot] = madeAt + this.#horizon;
    this.#predicted[slot] = predicted;
    this.#pendingCount++;
  }

  /** Scores the forecasts due by `now` against the readings on either side of their due time. */
  #check(value: number, now: number): void {
    const from = this.#at;
    const before = this.#value;
    while (this.#pendingCount > 0) {
      const due = this.#due[this.#pendingHead]!;
      if (due > now) break;
      // Every forecast is due after the reading it was made at, so `from < due <= now` here.
      const actual = before + ((value - before) * (due - from)) / (now - from);
      this.#score(actual, this.#predicted[this.#pendingHead]!);
      this.#dropPending();
    }
  }

  #dropPending(): void {
    this.#pendingHead = (this.#pendingHead + 1) % PENDING;
    this.#pendingCount--;
  }

  #score(actual: number, predicted: number): void {
    const scale = Math.max(Math.abs(actual), Math.abs(predicted));
    const error = scale === 0 ? 0 : Math.min(1, Math.abs(actual - predicted) / scale);
    const size = this.#errors.length;
    if (this.#errorCount === size) {
      this.#errorSum -= this.#errors[this.#errorHead]!;
    } else {
      this.#errorCount++;
    }
    this.#errors[this.#errorHead] = error;
    this.#errorHead = (this.#errorHead + 1) % size;
    // A running sum drifts by float rounding; recompute it once per lap of the ring.
    if (this.#errorHead === 0) {
      let sum = 0;
      for (let i = 0; i < this.#errorCount; i++) sum += this.#errors[i]!;
      this.#errorSum = sum;
    } else {
      this.#errorSum += error;
    }
  }
}

/** A {@link SignalAnalyser}; see there. */
export function signalAnalyser(options?: SignalAnalyserOptions): SignalAnalyser {
  return new SignalAnalyser(options);
}

/**
 * The burn rate of an error budget: how many times faster than allowed the budget is being spent. 1 spends
 * exactly the budget over the SLO's period; Google SRE's multiwindow alerts page at 14.4 (2% of a 30-day
 * budget in one hour). `errorRatio` is errors over requests in [0, 1]; `slo` is the target success ratio in
 * (0, 1), e.g. 0.999.
 */
export function burnRate(errorRatio: number, slo: number): number {
  fraction('slo', slo, { open: true });
  return Math.max(0, errorRatio) / (1 - slo);
}

export interface ErrorBudgetBurnOptions {
  /** Target success ratio in (0, 1), e.g. 0.999 for "99.9% of requests succeed". Required. */
  readonly slo: number;
  /** Sliding window (ms) the error ratio is measured over. Default 300 000 (5 minutes). */
  readonly window?: number;
  /** Slots the window is split into, an integer in [1, 1000]. Default 10. */
  readonly slots?: number;
}

/**
 * Error-budget burn over a sliding window, as a number a collector can report as a reading (and a policy
 * can scale on, e.g. step scaling above a burn of 2): `burn = (errors / requests) / (1 - slo)` over the
 * window. Feed it increments (`add`) or a service's cumulative counters (`addTotals`, Prometheus-style,
 * where a counter that goes down has restarted from 0). Constant memory.
 */
export class ErrorBudgetBurn {
  readonly slo: number;
  readonly #errors: RateMeter;
  readonly #requests: RateMeter;
  #lastErrors = Number.NaN;
  #lastRequests = Number.NaN;

  constructor(options: ErrorBudgetBurnOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('options', options, 'an object with slo');
    }
    this.slo = fraction('errorBudgetBurn.slo', options.slo, { open: true });
    const window = positive('errorBudgetBurn.window', or(options.window, 300_000));
    const slots = integer('errorBudgetBurn.slots', or(options.slots, 10), 1, 1000);
    this.#errors = new RateMeter({ window, slots });
    this.#requests = new RateMeter({ window, slots });
  }

  /** Counts `requests` requests, `errors` of which failed, at `at` (ms). Errors beyond requests count as requests. */
  add(errors: number, requests: number, at: number): void {
    if (!(errors >= 0 && requests >= 0 && Number.isFinite(errors) && Number.isFinite(requests))) return;
    this.#errors.mark(at, errors);
    this.#requests.mark(at, Math.max(requests, errors));
  }

  /**
   * Counts the increase of cumulative counters since the last call. The first call only sets the baseline;
   * a counter lower than before has restarted, and its whole value is the increase.
   */
  addTotals(errorsTotal: number, requestsTotal: number, at: number): void {
    if (!(Number.isFinite(errorsTotal) && Number.isFinite(requestsTotal))) return;
    const first = Number.isNaN(this.#lastErrors);
    const errors = errorsTotal >= this.#lastErrors ? errorsTotal - this.#lastErrors : errorsTotal;
    const requests = requestsTotal >= this.#lastRequests ? requestsTotal - this.#lastRequests : requestsTotal;
    this.#lastErrors = errorsTotal;
    this.#lastRequests = requestsTotal;
    if (!first) this.add(errors, requests, at);
  }

  /** Errors over requests in the window at `now`; 0 without requests. */
  errorRatio(now: number): number {
    const requests = this.#requests.total(now);
    return requests > 0 ? Math.min(1, this.#errors.total(now) / requests) : 0;
  }

  /** The burn rate at `now`: the window's error ratio over the budget `1 - slo`. */
  burn(now: number): number {
    return this.errorRatio(now) / (1 - this.slo);
  }

  /** Forgets every count. */
  reset(): void {
    this.#errors.reset();
    this.#requests.reset();
    this.#lastErrors = Number.NaN;
    this.#lastRequests = Number.NaN;
  }
}

/** An {@link ErrorBudgetBurn}; see there. */
export function errorBudgetBurn(options: ErrorBudgetBurnOptions): ErrorBudgetBurn {
  return new ErrorBudgetBurn(options);
}

/** How a backlog moves, read from its signal's trend. */
export interface BacklogGrowth {
  /** Items per second the backlog grows by (negative while it shrinks): the Holt slope. */
  readonly perSecond: number;
  /** Growth per second as a share of the smoothed backlog (0.1: 10% a second); 0 when the backlog is empty. */
  readonly relative: number;
  /** Seconds until the backlog is empty at this trend; `Infinity` while it does not shrink, 0 when empty. */
  readonly secondsToEmpty: number;
  /** Seconds until the backlog reaches `limit` at this trend; `Infinity` while it does not grow. */
  readonly secondsToLimit: number;
}

/**
 * The growth rate of a backlog (a queue depth, consumer lag) from its analysed signal, with how long until
 * it drains or, given a `limit` (a queue's capacity, the depth at which messages expire), fills.
 */
export function backlogGrowth(backlog: Signal, limit = Number.POSITIVE_INFINITY): BacklogGrowth {
  nonNegative('limit', limit);
  const depth = Number.isFinite(backlog.value) ? Math.max(0, backlog.value) : 0;
  const slope = Number.isFinite(backlog.slope) ? backlog.slope : 0;
  const base = Number.isFinite(backlog.smoothed) ? Math.max(0, backlog.smoothed) : depth;
  return {
    perSecond: slope,
    relative: base > 0 ? slope / base : 0,
    secondsToEmpty: depth === 0 ? 0 : slope < 0 ? depth / -slope : Number.POSITIVE_INFINITY,
    secondsToLimit: depth >= limit ? 0 : slope > 0 ? (limit - depth) / slope : Number.POSITIVE_INFINITY,
  };
}
