import { ConfigError } from '../../core/errors.ts';
import { finite, nonNegative, or, positive } from '../../core/validate.ts';
import type { PolicyInput, Proposal, ScalingPolicy } from '../types.ts';
import {
  checkOptions,
  fmt,
  nameOption,
  type Per,
  perOption,
  read,
  replicas,
  replicasFor,
  signalName,
  type Use,
  useOption,
} from './shared.ts';

export interface BurstOptions {
  /** The load signal, e.g. `"inflight"` or `"rps"`. Required. */
  readonly signal: string;
  /** The value wanted per replica (in the signal's unit), > 0. Required. */
  readonly target: number;
  /**
   * Burst mode starts when the load per ready replica reaches `threshold x target`, a number > 1. Default 2
   * (Knative's panic threshold, 200%).
   */
  readonly threshold?: number;
  /** How long (ms) new capacity takes to become ready: the trend is carried this far ahead. Required, >= 0. */
  readonly readiness: number;
  /**
   * `"replica"`: the signal is per ready replica (in-flight per replica), and the fleet's load is `counted x
   * value`. `"total"`: the signal is the fleet's load (requests per second, in-flight across the fleet).
   * Prefer a total: its trend is not bent by replicas becoming ready. Default `"replica"`.
   */
  readonly per?: Per;
  /** Add the load expected by the time new capacity is ready (`slope x readiness`). Default true. */
  readonly trend?: boolean;
  /** Read the latest reading (`"value"`) or its time-decayed average (`"smoothed"`). Default `"value"`. */
  readonly use?: Use;
  /** The policy's name in records. Default `"burst:<signal>"`. */
  readonly name?: string;
}

/**
 * A fast path for sudden spikes. While the load per ready replica is below `threshold x target` the policy
 * has no opinion (the steady policies decide). Past it, it asks at once for the replicas the load needs,
 * `ceil(load / target)`, sized for the load expected when they are ready (`load + slope x readiness`, a
 * rising trend only), and never for fewer than the capacity already asked for: no scaling down during a
 * burst, as in Knative's panic mode.
 *
 * Unlike Knative's panic mode, it does not multiply the capacity asked for by the overload seen on the
 * ready replicas: that overload persists until the new replicas are ready, so such a rule asks again, each
 * tick, for capacity already starting, and floods. Here the answer is absolute, from the load, so replicas
 * starting are counted once: while they cover the load the policy holds.
 */
export function burst(options: BurstOptions): ScalingPolicy {
  checkOptions('burst', options);
  const signal = signalName('burst.signal', options.signal);
  const target = positive('burst.target', options.target);
  const threshold = finite('burst.threshold', or(options.threshold, 2));
  if (!(threshold > 1)) throw new ConfigError('burst.threshold', threshold, 'a finite number > 1');
  const readiness = nonNegative('burst.readiness', options.readiness);
  if (!Number.isFinite(readiness))
    throw new ConfigError('burst.readiness', readiness, 'a finite number >= 0');
  const per = perOption('burst.per', options.per);
  const trend = options.trend ?? true;
  if (typeof trend !== 'boolean') throw new ConfigError('burst.trend', trend, 'a boolean');
  const use = useOption('burst.use', options.use);
  const rule = `burst:${signal}`;
  const name = nameOption('burst.name', options.name, rule);
  const label = use === 'smoothed' ? `${signal} (smoothed)` : signal;

  return {
    name,
    propose(input: PolicyInput): Proposal | undefined {
      const reading = read(input, signal, use);
      if (reading === undefined) return undefined;
      const m = Math.max(0, reading.value);
      const { counted } = input;
      const desired = input.capacity.desired;
      if (per === 'replica' && counted === 0) return undefined;
      const load = per === 'replica' ? m * counted : m;
      const perReady = counted > 0 ? load / counted : load > 0 ? Number.POSITIVE_INFINITY : 0;
      if (perReady < threshold * target) return undefined;

      const slope = Number.isFinite(reading.signal.slope) ? reading.signal.slope : 0;
      const rising = trend ? Math.max(0, per === 'replica' ? slope * counted : slope) : 0;
      const ahead = (rising * readiness) / 1000;
      const needed = replicasFor((load + ahead) / target);
      const head =
        counted === 0
          ? `${label} ${fmt(m)} with no ready replica`
          : `${label} ${fmt(m)} is ${fmt(perReady / target)}x the target ${fmt(target)} on ${replicas(counted)} ready (burst at ${fmt(threshold)}x)`;
      const sizing =
        ahead > 0
          ? `load ${fmt(load)} + ${fmt(ahead)} by the trend over ${fmt(readiness / 1000)} s of readiness needs ${needed}`
          : `load ${fmt(load)} needs ${needed}`;
      if (needed <= desired) {
        const starting = desired - counted;
        const cover = starting > 0 ? `the ${starting} starting cover it` : `${desired} asked for cover it`;
        return { replicas: desired, rule, reason: `${head}: ${sizing}, ${cover}: hold ${desired}` };
      }
      return { replicas: needed, rule, reason: `${head}: ${sizing}, ${desired} asked for: ${needed}` };
    },
  };
}
