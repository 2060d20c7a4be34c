import { positive } from '../../core/validate.ts';
import type { PolicyInput, Proposal, ScalingPolicy } from '../types.ts';
import {
  checkOptions,
  fmt,
  nameOption,
  type Per,
  type Proportional,
  perOption,
  proportional,
  read,
  replicas,
  replicasFor,
  signalName,
  toleranceOption,
  type Use,
  useOption,
} from './shared.ts';

export interface TargetTrackingOptions {
  /** The signal to hold at `target`, e.g. `"cpu"`, `"inflight"`, `"p99"`. Required. */
  readonly signal: string;
  /** The value wanted per replica (in the signal's unit), > 0. Required. */
  readonly target: number;
  /**
   * `"replica"`: the signal is a per-replica measure averaged over the ready replicas (utilisation, in-flight
   * requests per replica, latency), and `replicas = ceil(counted x value / target)`. `"total"`: it is a
   * fleet total (requests per second, in-flight requests across the fleet), and `replicas = ceil(value /
   * target)`, `target` being what one replica should carry. Default `"replica"`.
   */
  readonly per?: Per;
  /**
   * No change while the usage ratio (`value / target` per replica) is within `1 ± tolerance`, in [0, 1).
   * Default 0.1, the HPA's.
   */
  readonly tolerance?: number;
  /** Read the latest reading (`"value"`, as the HPA does) or its time-decayed average (`"smoothed"`). Default `"value"`. */
  readonly use?: Use;
  /** The policy's name in records. Default `"target:<signal>"`. */
  readonly name?: string;
}

/**
 * Target tracking with the Kubernetes HPA's proportional rule: `desired = ceil(current x value / target)`
 * when the ratio `value / target` leaves the band `1 ± tolerance`, else hold the replicas asked for.
 *
 * "Current" in the ratio is `input.counted`, the ready replicas out of warm-up, since only they contribute
 * to the signal (the HPA sets unready pods aside the same way). Scaling up while replicas are starting,
 * they are counted as serving nothing: if the load then fits the capacity asked for within the tolerance,
 * the policy holds it instead of proposing less than is already starting. With no replica counted, a
 * per-replica signal means nothing: the policy holds the capacity asked for, or has no opinion at zero.
 *
 * The policy proposes; it does not clamp to min/max or apply windows (the controller's guards do).
 */
export function targetTracking(options: TargetTrackingOptions): ScalingPolicy {
  return proportionalPolicy('targetTracking', 'target', options);
}

/** Shared by `targetTracking` and `hpaBaseline`, which differ only in their names. */
export function proportionalPolicy(
  what: string,
  prefix: string,
  options: TargetTrackingOptions,
): ScalingPolicy {
  checkOptions(what, options);
  const signal = signalName(`${what}.signal`, options.signal);
  const target = positive(`${what}.target`, options.target);
  const per = perOption(`${what}.per`, options.per);
  const tolerance = toleranceOption(`${what}.tolerance`, options.tolerance);
  const use = useOption(`${what}.use`, options.use);
  const rule = `${prefix}:${signal}`;
  const name = nameOption(`${what}.name`, options.name, rule);
  const label = use === 'smoothed' ? `${signal} (smoothed)` : signal;

  return {
    name,
    propose(input: PolicyInput): Proposal | undefined {
      const reading = read(input, signal, use);
      if (reading === undefined) return undefined;
      const m = reading.value;
      const { counted } = input;
      const desired = input.capacity.desired;
      if (per === 'replica' && counted === 0) {
        if (desired === 0) return undefined;
        return {
          replicas: desired,
          rule,
          reason: `no ready replica to measure ${label} on: hold ${desired}`,
        };
      }
      const need = per === 'replica' ? (counted * m) / target : m / target;
      const p = proportional(need, counted, desired, tolerance);
      return { replicas: p.replicas, rule, reason: reason(p) };

      function reason(p: Proportional): string {
        const ratio = fmt(p.ratio);
        const head =
          counted === 0
            ? `${label} ${fmt(m)} with no ready replica, target ${fmt(target)} per replica`
            : per === 'replica'
              ? `${label} ${fmt(m)} is ${ratio}x the target ${fmt(target)} on ${replicas(counted)} ready`
              : `${label} ${fmt(m)} is ${ratio}x the target ${fmt(target)} per replica on ${replicas(counted)} ready`;
        const formula =
          per === 'replica'
            ? `ceil(${counted} x ${ratio}) = ${replicasFor(need)}`
            : `ceil(${fmt(m)} / ${fmt(target)}) = ${replicasFor(need)}`;
        if (counted === 0 && p.kind === 'hold') {
          return `${label} ${fmt(m)} with no ready replica: hold ${p.replicas}`;
        }
        switch (p.kind) {
          case 'hold':
            return `${head}, within the ${fmt(tolerance * 100)}% tolerance: hold ${p.replicas}`;
          case 'covered':
            return `${head}: ${formula}, and the ${p.starting} starting cover it: hold ${p.replicas}`;
          case 'scale':
            return `${head}: ${formula}`;
        }
      }
    },
  };
}
