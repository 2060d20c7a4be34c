import { ConfigError } from '../core/errors.ts';
import { positive } from '../core/validate.ts';
import type { LimitBounds, LimitSample } from './limit.ts';

/** Bounds of the adaptive algorithms, with defaults that suit an untuned service. */
export interface AdaptiveBounds extends LimitBounds {
  /** Starting limit. Default 20. */
  readonly initial?: number;
  /** Lower bound the limit never goes below. Default 1. */
  readonly min?: number;
  /** Upper bound the limit never goes above. Default 1000. */
  readonly max?: number;
}

export const adaptiveDefaults: Required<LimitBounds> = { initial: 20, min: 1, max: 1000 };

/**
 * A limit grows only while the requests of a round reached this fraction of it: a limit nobody uses says
 * nothing about capacity, and growing it would leave no protection when load arrives.
 */
export const NEAR_LIMIT = 0.75;

/**
 * Slow start ends when a round's queue exceeds this share of the limit (latency about 1/8 above its no-load
 * level, HyStart's delay threshold) or the algorithm's own queue allowance, whichever is larger: a smaller
 * threshold mistakes the noise of the first, small rounds for queueing.
 */
export const SLOW_START_EXIT = 1 / 8;

/** A round gathers completions for this many of their mean round trips, about a limit's worth of requests. */
const ROUND_SPAN = 1;

/** A cohort is the requests started over this many round trips... */
const COHORT_SPAN = 2;

/** ...judged once this many more have passed, so that all but the slowest (beyond 1.5x) have completed. */
const COHORT_TAIL = 1.5;

/** Timestamps of one request differ from the clock's by float rounding; this absorbs it (ms). */
const EPSILON = 1e-6;

/**
 * The requests that judge an algorithm's last decision.
 *
 * A decision can be judged only by requests that saw it: one admitted before the limit moved reports the
 * old concurrency's latency, or drop. Netflix's limits update on every sample, so for a whole round trip
 * after each change they keep reacting to the same stale queue, and overshoot. Here an algorithm decides at
 * most once a round (TCP's cadence), in one of two ways:
 *
 * - `restart`: the round settles for one round trip (the last round's mean) while the requests admitted
 *   before the decision complete, then gathers completions for one mean round trip: about a limit's worth
 *   of requests, judged two round trips after the decision. Completions over an interval represent latency
 *   fairly while the flow of requests is steady, as it is between the small steps of a limit.
 * - `cohort`: after a large step (a probe cutting 20%) the flow is not steady: requests start in bursts, and
 *   the echo of a burst biases any interval of completions by several percent. So the round takes the
 *   requests that *started* over two round trips (after settling) and waits until all but the slowest have
 *   completed: unbiased, at the price of a longer round.
 *
 * An aggregated sample (see `windowed`) usually makes a round by itself; a cohort then settles for at least
 * the gap between samples, so that a window straddling the decision is passed over. That gap is the cadence
 * of the samples: the first sample after a pause in traffic (a breaker held open, a quiet night) follows a
 * gap as long as the pause, which would hold a probe's lowered limit for as long again.
 */
export class Round {
  #from = Number.NaN;
  #to = Number.POSITIVE_INFINITY;
  #readyAt = Number.NaN;
  #decreasedAt = Number.NEGATIVE_INFINITY;
  #last = 0;
  /** The smaller of the last two gaps between samples: the cadence of samples, not a pause in traffic. */
  #gap = 0;
  #lastGap = Number.POSITIVE_INFINITY;
  #previous = Number.NaN;
  #count = 0;
  #sum = 0;
  #inflight = 0;

  /** Adds a successful sample if its request belongs to the round. */
  add(sample: LimitSample): void {
    const now = sample.now;
    let gap = 0;
    if (!Number.isNaN(this.#previous)) {
      gap = now - this.#previous;
      this.#gap = Math.min(gap, this.#lastGap);
      this.#lastGap = gap;
    }
    this.#previous = now;
    if (Number.isNaN(this.#from)) {
      this.#from = now;
    } else if (Number.isNaN(this.#readyAt)) {
      if (now < this.#from) return;
    } else {
      const start = now - sample.rtt;
      // An aggregated sample stands for the requests that completed since the one before it: the first of
      // them started a gap earlier. A window that began before the cohort did carries the old level's queue.
      if (start - gap < this.#from - EPSILON) return;
      if (start > this.#to) {
        if (this.#count > 0) return;
        // Sparse or aggregated samples: the first that started after settling stands for the cohort.
        this.#to = start;
        this.#readyAt = now;
      }
    }
    this.#count++;
    this.#sum += sample.rtt;
    this.#inflight += sample.inflight;
  }

  /** True once the round can be judged. */
  ready(now: number): boolean {
    if (this.#count === 0) return false;
    if (Number.isNaN(this.#readyAt)) return now - this.#from >= (ROUND_SPAN * this.#sum) / this.#count;
    return now >= this.#readyAt;
  }

  /** Requests in the round. */
  get count(): number {
    return this.#count;
  }

  /** Mean round-trip time of the round's requests (ms). */
  get rtt(): number {
    return this.#sum / this.#count;
  }

  /**
   * Mean requests in flight when the round's requests started: the concurrency its latency was measured at
   * (the most would overstate it when arrivals are bursty, and blame the queue on too many requests).
   */
  get inflight(): number {
    return this.#inflight / this.#count;
  }

  /**
   * True for a drop whose request started after the last drop-driven decrease. Earlier drops were admitted
   * under the limit that decrease already answered; counting them would cut the limit once per request
   * instead of once per round trip.
   */
  freshDrop(sample: LimitSample): boolean {
    return sample.now - sample.rtt >= this.#decreasedAt - EPSILON;
  }

  /** Starts an interval round after a decision at `now`; `drop` marks the decision as a drop's decrease. */
  restart(now: number, drop = false): void {
    this.#clear();
    this.#from = now + this.#last;
    this.#readyAt = Number.NaN;
    if (drop) this.#decreasedAt = now;
  }

  /** Starts a cohort round after a large step at `now`. */
  cohort(now: number): void {
    this.#clear();
    this.#from = now + Math.max(this.#last, this.#gap);
    this.#to = this.#from + COHORT_SPAN * this.#last;
    this.#readyAt = this.#to + COHORT_TAIL * this.#last;
  }

  #clear(): void {
    if (this.#count > 0) this.#last = this.#sum / this.#count;
    this.#count = 0;
    this.#sum = 0;
    this.#inflight = 0;
  }
}

/** `value ?? fallback`, which must be a boolean. */
export function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(option, value, 'a boolean');
  return value;
}

/** A number > 0, where `Infinity` means "never". */
export function positiveOrInfinity(option: string, value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new ConfigError(option, value, 'a number > 0 (Infinity allowed)');
  }
  return positive(option, value);
}

/** An option that is a function of the current limit, `(limit) => number`. */
export function limitFunction(
  option: string,
  value: unknown,
  fallback: (limit: number) => number,
): (limit: number) => number {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new ConfigError(option, value, 'a function (limit) => number');
  return value as (limit: number) => number;
}

/** log10 of the limit, at least 1, so that the log-scaled steps still move a small limit. */
export function log10(limit: number): number {
  return Math.max(1, Math.log10(limit));
}

/**
 * True when a sample can teach an algorithm anything: a drop with a finite round trip >= 0, or a success with
 * one > 0 (a zero latency carries no information about queueing, and would make a round of one request).
 */
export function usable(sample: LimitSample): boolean {
  const rtt = sample.rtt;
  return (
    (sample.dropped ? rtt >= 0 : rtt > 0) && rtt < Number.POSITIVE_INFINITY && Number.isFinite(sample.now)
  );
}

/** A number in (0, 1]. */
export function weight(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new ConfigError(option, value, 'a number in (0, 1]');
  }
  return value;
}
