import type { OutcomeWindow } from './window.ts';

/** Why a breaker tripped (closed -> open), with the numbers that decided it. */
export type Trip =
  | {
      readonly rule: 'consecutive-failures';
      /** Failures in a row, counting the last one. */
      readonly failures: number;
      readonly threshold: number;
    }
  | {
      readonly rule: 'failure-rate';
      readonly calls: number;
      readonly failures: number;
      /** failures / calls, in [0, 1]. */
      readonly rate: number;
      readonly threshold: number;
      readonly minimumCalls: number;
    }
  | {
      readonly rule: 'slow-call-rate';
      readonly calls: number;
      readonly slow: number;
      /** slow / calls, in [0, 1]. */
      readonly rate: number;
      readonly threshold: number;
      readonly minimumCalls: number;
      /** A call this long (ms) or longer counts as slow. */
      readonly slowCallDuration: number;
    };

/** Trips after `threshold` failures in a row; any success (slow or not) ends the run. */
export class ConsecutiveFailures {
  readonly threshold: number;
  #run = 0;

  constructor(threshold: number) {
    this.threshold = threshold;
  }

  /** Failures in a row so far. */
  get count(): number {
    return this.#run;
  }

  record(failed: boolean): Trip | undefined {
    if (!failed) {
      this.#run = 0;
      return undefined;
    }
    this.#run++;
    if (this.#run < this.threshold) return undefined;
    return { rule: 'consecutive-failures', failures: this.#run, threshold: this.threshold };
  }

  clear(): void {
    this.#run = 0;
  }
}

export interface RateRuleOptions {
  /** The rates are judged only once the window holds at least this many calls. */
  readonly minimumCalls: number;
  /** Trip when failures / calls reaches this; `undefined` disables the rule. */
  readonly failureRate: number | undefined;
  /** Trip when slow / calls reaches this; `undefined` disables the rule. */
  readonly slowCallRate: number | undefined;
  /** What "slow" meant when the window's calls were recorded (for the trip record). */
  readonly slowCallDuration: number;
}

/**
 * The failure-rate and slow-call-rate rules over one sliding window. A rate can only reach its threshold
 * through a bad outcome (a failure or a slow call) or through good calls expiring; the rule is judged when
 * a bad outcome is recorded, so an expiry alone never trips it - the next bad call does.
 */
export class RateRules {
  readonly window: OutcomeWindow;
  readonly #o: RateRuleOptions;

  constructor(window: OutcomeWindow, options: RateRuleOptions) {
    this.window = window;
    this.#o = options;
  }

  record(now: number, failed: boolean, slow: boolean): Trip | undefined {
    const w = this.window;
    w.record(now, failed, slow);
    if ((!failed && !slow) || w.calls < this.#o.minimumCalls) return undefined;
    const { failureRate, slowCallRate, minimumCalls } = this.#o;
    // Division rather than `failures >= threshold * calls`: 0.3 * 10 is 3.0000000000000004.
    const rate = w.failures / w.calls;
    if (failed && failureRate !== undefined && rate >= failureRate) {
      return {
        rule: 'failure-rate',
        calls: w.calls,
        failures: w.failures,
        rate,
        threshold: failureRate,
        minimumCalls,
      };
    }
    const slowRate = w.slow / w.calls;
    if (slow && slowCallRate !== undefined && slowRate >= slowCallRate) {
      return {
        rule: 'slow-call-rate',
        calls: w.calls,
        slow: w.slow,
        rate: slowRate,
        threshold: slowCallRate,
        minimumCalls,
        slowCallDuration: this.#o.slowCallDuration,
      };
    }
    return undefined;
  }

  clear(): void {
    this.window.clear();
  }
}
