import { integer, or, ordered } from '../core/validate.ts';

/**
 * One observation of a completed request, as a limit algorithm sees it. Limits know nothing of queues,
 * HTTP or timers: they take samples and return a limit.
 */
export interface LimitSample {
  /** When the request completed, in milliseconds on the limiter's clock. */
  readonly now: number;
  /** Round-trip time of the request in milliseconds. For an aggregated sample, a representative RTT. */
  readonly rtt: number;
  /** Permits in flight when the request started (including itself). */
  readonly inflight: number;
  /** True when the request ended in an overload signal (timeout, 503, 429, queue drop downstream). */
  readonly dropped: boolean;
}

/** Why a limit moved; part of every limit-change record. */
export interface LimitChange {
  readonly previous: number;
  readonly limit: number;
  /** Short name of the rule that fired, e.g. `"drop"`, `"gradient"`, `"slow-start"`, `"probe"`. */
  readonly rule: string;
  /** The signals the algorithm based its decision on (algorithm-specific, e.g. `{ rtt, rttNoLoad }`). */
  readonly signals: Readonly<Record<string, number>>;
}

/** A concurrency-limit algorithm: a pure function of the samples it has seen (and their timestamps). */
export interface Limit {
  /** Short algorithm name, for records and metrics: `"vegas"`, `"gradient2"`, ... */
  readonly name: string;
  /**
   * True for a limit that never learns from samples (a fixed limit). The limiter then skips timing most
   * calls, since reading the clock is the largest cost of an admission. Default false.
   */
  readonly fixed?: boolean;
  /** The current limit: an integer in [min, max]. The limiter admits while in flight + weight <= limit. */
  readonly current: number;
  /** Feeds one sample; returns the limit after it. */
  update(sample: LimitSample): number;
  /** Calls `listener` after every change of `current`; returns an unsubscribe function. */
  onChange(listener: (change: LimitChange) => void): () => void;
}

export interface LimitBounds {
  /** Starting limit. */
  readonly initial?: number;
  /** Lower bound the limit never goes below. */
  readonly min?: number;
  /** Upper bound the limit never goes above. */
  readonly max?: number;
}

/**
 * Shared base: clamps to [min, max] and notifies listeners only when the limit actually changes.
 * An algorithm implements `next(sample)` and calls `this.change(...)` or returns via `this.set(...)`.
 */
export abstract class BaseLimit implements Limit {
  abstract readonly name: string;
  readonly min: number;
  readonly max: number;
  #current: number;
  #listeners: ((change: LimitChange) => void)[] = [];

  protected constructor(prefix: string, bounds: LimitBounds, defaults: Required<LimitBounds>) {
    this.min = integer(`${prefix}.min`, or(bounds.min, defaults.min), 1);
    this.max = integer(`${prefix}.max`, or(bounds.max, defaults.max), 1);
    ordered(`${prefix}.min`, this.min, `${prefix}.max`, this.max);
    const initial = integer(
      `${prefix}.initial`,
      or(bounds.initial, Math.min(Math.max(defaults.initial, this.min), this.max)),
      1,
    );
    if (initial < this.min || initial > this.max) {
      integer(`${prefix}.initial`, initial, this.min, this.max);
    }
    this.#current = initial;
  }

  get current(): number {
    return this.#current;
  }

  abstract update(sample: LimitSample): number;

  onChange(listener: (change: LimitChange) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Clamps `value` into [min, max], stores it, notifies on change, and returns it. */
  protected set(value: number, rule: string, signals: Readonly<Record<string, number>> = {}): number {
    const next = Math.min(this.max, Math.max(this.min, value));
    const previous = this.#current;
    if (next === previous || Number.isNaN(next)) return previous;
    this.#current = next;
    if (this.#listeners.length > 0) {
      const change: LimitChange = { previous, limit: next, rule, signals };
      for (const l of this.#listeners) l(change);
    }
    return next;
  }
}
