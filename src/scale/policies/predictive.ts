import { ConfigError } from '../../core/errors.ts';
import { nonNegative } from '../../core/validate.ts';
import type { PolicyInput, Proposal, ScalingPolicy, Signal } from '../types.ts';
import { checkOptions, fmt, nameOption } from './shared.ts';

export interface PredictiveOptions {
  /**
   * The rule to run on forecasts, e.g. a `targetTracking` or `queueBased` policy. It is asked twice a tick
   * (on the signals and on their forecasts), so it must not keep state between calls. Required.
   */
  readonly policy: ScalingPolicy;
  /**
   * How far ahead to look (ms). Default: the signals' own `forecast`, made at the controller's horizon (the
   * readiness delay of new capacity), which is also the horizon their `accuracy` was measured at; prefer it.
   * When set, each signal's latest reading is carried along its trend instead: `value + slope x horizon`.
   */
  readonly horizon?: number;
  /** The policy's name in records. Default `"predictive:<inner policy's name>"`. */
  readonly name?: string;
}

/**
 * Predictive scale-up: asks an inner policy twice, on the signals as they are (the reactive answer) and on
 * their forecasts (every signal's `value` and `smoothed` replaced by its forecast), and moves from the
 * reactive answer towards the forecast's by the forecast's recent accuracy:
 *
 *     replicas = round(reactive + accuracy x (forecast answer - reactive))   when the forecast answer is higher
 *
 * so a trend that has come true lets capacity start before the load arrives, and one that has not changes
 * nothing. The accuracy is the lowest among the signals the inner policy read. The answer is never below the
 * reactive one (a forecast of less load never scales down early); when the inner policy has no reactive
 * opinion the capacity asked for stands in for it.
 */
export function predictive(options: PredictiveOptions): ScalingPolicy {
  checkOptions('predictive', options);
  const inner = options.policy;
  if (typeof inner !== 'object' || inner === null || typeof inner.propose !== 'function') {
    throw new ConfigError('predictive.policy', inner, 'a scaling policy (an object with propose)');
  }
  const horizon =
    options.horizon === undefined ? undefined : nonNegative('predictive.horizon', options.horizon);
  if (horizon !== undefined && !Number.isFinite(horizon)) {
    throw new ConfigError('predictive.horizon', horizon, 'a finite number >= 0');
  }
  const name = nameOption('predictive.name', options.name, `predictive:${inner.name}`);
  const ahead = horizon === undefined ? 'the forecast' : `the forecast ${fmt(horizon / 1000)} s ahead`;

  return {
    name,
    propose(input: PolicyInput): Proposal | undefined {
      const reactive = inner.propose(input);
      const view = new ForecastView(input.signals, horizon);
      const predicted = inner.propose({ ...input, signals: view });
      if (predicted === undefined) return reactive;
      const base = reactive?.replicas ?? input.capacity.desired;
      const basis = reactive === undefined ? `the ${base} asked for` : `reactive ${base}`;
      if (predicted.replicas <= base) return reactive;
      const accuracy = view.accuracy();
      const exact = base + accuracy * (predicted.replicas - base);
      const replicas = Math.round(exact);
      const weighing = `${basis} + accuracy ${fmt(accuracy)} x (${predicted.replicas} - ${base}) = ${fmt(exact)}`;
      if (replicas <= base) {
        if (reactive === undefined) return undefined;
        return {
          ...reactive,
          reason: `${reactive.reason}; on ${ahead} ${predicted.replicas}, but ${weighing}: not raised`,
        };
      }
      return {
        replicas,
        rule: `predictive:${predicted.rule}`,
        reason: `on ${ahead}, ${predicted.reason}; ${weighing}: ${replicas}`,
      };
    },
  };
}

/** The signals with their forecasts as values; remembers which ones the inner policy looked up. */
class ForecastView extends Map<string, Signal> {
  readonly #original: ReadonlyMap<string, Signal>;
  readonly #read = new Set<string>();

  constructor(signals: ReadonlyMap<string, Signal>, horizon: number | undefined) {
    super();
    this.#original = signals;
    for (const [name, s] of signals) {
      const f = horizon === undefined ? s.forecast : s.value + (s.slope * horizon) / 1000;
      super.set(name, Number.isFinite(f) ? { ...s, value: f, smoothed: f, forecast: f } : s);
    }
  }

  override get(name: string): Signal | undefined {
    this.#read.add(name);
    return super.get(name);
  }

  /** The lowest accuracy among the signals looked up (all signals if none was: the policy iterated). */
  accuracy(): number {
    let lowest = Number.POSITIVE_INFINITY;
    const names = this.#read.size > 0 ? this.#read : this.#original.keys();
    for (const name of names) {
      const a = this.#original.get(name)?.accuracy;
      if (a !== undefined) lowest = Math.min(lowest, a);
    }
    if (lowest === Number.POSITIVE_INFINITY) return 0;
    return Math.min(1, Math.max(0, Number.isFinite(lowest) ? lowest : 0));
  }
}
