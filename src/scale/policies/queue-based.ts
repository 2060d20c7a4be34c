import { ConfigError } from '../../core/errors.ts';
import { nonNegative, oneOf, or, positive } from '../../core/validate.ts';
import type { PolicyInput, Proposal, ScalingPolicy } from '../types.ts';
import {
  checkOptions,
  fmt,
  nameOption,
  type Proportional,
  proportional,
  read,
  replicas,
  signalName,
  toleranceOption,
  type Use,
  useOption,
} from './shared.ts';

export interface QueueBasedOptions {
  /** The signal holding the backlog: messages waiting, consumer lag, jobs queued. Required. */
  readonly backlog: string;
  /**
   * Backlog one replica should hold (KEDA's `queueLength` / `lagThreshold`): `replicas = ceil(backlog /
   * perReplica)`. At least one of `perReplica` and `rate` is required; with both, the larger answer wins.
   */
  readonly perReplica?: number;
  /**
   * Items per second one busy replica completes: a signal's name (a measured per-replica service rate) or a
   * constant (from a load test). With `drainTime`, sizes by Little's law: enough replicas to keep up with
   * the arrivals and to empty the backlog within `drainTime`, `replicas = ceil((backlog / drainTime +
   * arrivals) / rate)`.
   */
  readonly rate?: string | number;
  /**
   * The signal holding the arrival rate (items per second into the backlog). Default: estimated as what the
   * counted replicas complete while there is a backlog (`counted x rate`, they are busy) plus the backlog's
   * growth (its slope). Only with `rate`.
   */
  readonly arrivals?: string;
  /** How soon the backlog should be empty (ms), > 0. Required with `rate`, not allowed without. */
  readonly drainTime?: number;
  /**
   * A backlog at or below this is idle (KEDA's activation threshold): the policy proposes 0 replicas or has
   * no opinion, as `idle` says. Default 0 (an empty backlog is idle).
   */
  readonly activation?: number;
  /**
   * What an idle backlog proposes: `"zero"` (scale to zero, as KEDA does; the controller's `min` still
   * applies, and other policies may want more) or `"abstain"` (no opinion). Default `"zero"`.
   */
  readonly idle?: 'zero' | 'abstain';
  /** No change while `replicas needed / counted` is within `1 ± tolerance`, in [0, 1). Default 0.1. */
  readonly tolerance?: number;
  /** Read the backlog's latest reading (`"value"`) or its time-decayed average (`"smoothed"`). Default `"value"`. */
  readonly use?: Use;
  /** The policy's name in records. Default `"queue:<backlog>"`. */
  readonly name?: string;
}

/**
 * Queue-based sizing, after KEDA's queue triggers: replicas from a backlog, either a fixed backlog per
 * replica, or by Little's law from the service rate of one replica and a drain-time target. Below the
 * activation threshold the backlog is idle and the policy proposes zero (or nothing). Within the tolerance
 * band around the counted replicas it holds, as the HPA that KEDA drives would.
 *
 * The Little's-law estimate of arrivals assumes replicas are busy whenever there is a backlog; give
 * `arrivals` when a direct measure exists (a publish rate), it is better.
 */
export function queueBased(options: QueueBasedOptions): ScalingPolicy {
  checkOptions('queueBased', options);
  const backlog = signalName('queueBased.backlog', options.backlog);
  const perReplica =
    options.perReplica === undefined ? undefined : positive('queueBased.perReplica', options.perReplica);
  const rate = rateOption(options.rate);
  if (perReplica === undefined && rate === undefined) {
    throw new ConfigError('queueBased.perReplica', undefined, 'a finite number > 0 when rate is not set');
  }
  let drainTime = 0;
  if (rate !== undefined) {
    drainTime = positive('queueBased.drainTime', options.drainTime);
  } else if (options.drainTime !== undefined) {
    throw new ConfigError('queueBased.drainTime', options.drainTime, 'unset unless rate is set');
  }
  if (options.arrivals !== undefined && rate === undefined) {
    throw new ConfigError('queueBased.arrivals', options.arrivals, 'unset unless rate is set');
  }
  const arrivals =
    options.arrivals === undefined ? undefined : signalName('queueBased.arrivals', options.arrivals);
  const activation = nonNegative('queueBased.activation', or(options.activation, 0));
  const idle = oneOf('queueBased.idle', or(options.idle, 'zero'), ['zero', 'abstain']);
  const tolerance = toleranceOption('queueBased.tolerance', options.tolerance);
  const use = useOption('queueBased.use', options.use);
  const rule = `queue:${backlog}`;
  const name = nameOption('queueBased.name', options.name, rule);
  const seconds = drainTime / 1000;

  return {
    name,
    propose(input: PolicyInput): Proposal | undefined {
      const reading = read(input, backlog, use);
      if (reading === undefined) return undefined;
      const depth = Math.max(0, reading.value);
      if (depth <= activation) {
        if (idle === 'abstain') return undefined;
        return {
          replicas: 0,
          rule,
          reason: `${backlog} ${fmt(depth)} at or below the activation ${fmt(activation)}: idle, 0 replicas`,
        };
      }
      const { counted } = input;
      let need = Number.NEGATIVE_INFINITY;
      let why = '';
      if (perReplica !== undefined) {
        need = depth / perReplica;
        why = `${backlog} ${fmt(depth)} at ${fmt(perReplica)} per replica needs ${fmt(need)}`;
      }
      const mu =
        rate === undefined ? undefined : typeof rate === 'number' ? rate : read(input, rate, 'value')?.value;
      if (mu !== undefined && mu > 0) {
        const measured = arrivals === undefined ? undefined : read(input, arrivals, 'value')?.value;
        const growth = reading.signal.slope;
        const lambda = Math.max(0, measured ?? counted * mu + (Number.isFinite(growth) ? growth : 0));
        const source =
          measured !== undefined
            ? `arrivals ${fmt(lambda)}/s`
            : `arrivals ${fmt(lambda)}/s (${counted} busy x ${fmt(mu)}/s ${growth < 0 ? '-' : '+'} growth ${fmt(Math.abs(growth))}/s)`;
        const little = (depth / seconds + lambda) / mu;
        if (little > need) {
          need = little;
          why =
            `${backlog} ${fmt(depth)} drained in ${fmt(seconds)} s (${fmt(depth / seconds)}/s) plus ${source}, ` +
            `at ${fmt(mu)}/s per replica, needs ${fmt(need)}`;
        }
      }
      if (need === Number.NEGATIVE_INFINITY) return undefined; // only `rate`, and no usable rate this tick
      const p = proportional(need, counted, input.capacity.desired, tolerance);
      return { replicas: p.replicas, rule, reason: `${why} on ${replicas(counted)} ready: ${end(p)}` };
    },
  };

  function end(p: Proportional): string {
    switch (p.kind) {
      case 'hold':
        return `within the ${fmt(tolerance * 100)}% tolerance, hold ${p.replicas}`;
      case 'covered':
        return `the ${p.starting} starting cover it, hold ${p.replicas}`;
      case 'scale':
        return `${p.replicas}`;
    }
  }
}

function rateOption(value: unknown): string | number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return positive('queueBased.rate', value);
  if (typeof value === 'string' && value !== '') return value;
  throw new ConfigError('queueBased.rate', value, 'a signal name or a finite number > 0');
}
