import type { Behavior } from '../guards.ts';
import type { ScalingPolicy } from '../types.ts';
import { proportionalPolicy, type TargetTrackingOptions } from './target-tracking.ts';

/** Options of {@link hpaBaseline}: those of `targetTracking`, with the HPA's defaults. */
export type HpaBaselineOptions = TargetTrackingOptions;

/**
 * The Kubernetes Horizontal Pod Autoscaler's algorithm as a baseline policy, to compare other policies with
 * (in the simulator) or to start from: `desired = ceil(ready x value / target)` outside a 10% tolerance
 * band, over the ready pods, with capacity still starting counted as idle when scaling up. This is
 * `targetTracking` with the rule named `"hpa:<signal>"`; the rest of the HPA (stabilization windows, rate
 * policies, the 15 s loop) belongs to the controller and its guards: pass them {@link hpaDefaults}.
 *
 * Per-pod details the HPA sees and a fleet-wide signal does not (missing metrics of individual pods
 * counted as 100% on scale-down) are left out.
 */
export function hpaBaseline(options: HpaBaselineOptions): ScalingPolicy {
  return proportionalPolicy('hpaBaseline', 'hpa', options);
}

/** The HPA's loop and behaviour, in the shape the autoscaler's options take (times in ms). */
export interface HpaDefaults {
  /** Time between decisions: the controller manager's `--horizontal-pod-autoscaler-sync-period`. */
  readonly interval: number;
  /** Stabilization windows and rate-of-change policies per direction (the guards' `Behavior`). */
  readonly behavior: Behavior;
}

/**
 * The defaults of the Kubernetes HPA (autoscaling/v2) as plain data, to spread into the autoscaler's
 * options beside an {@link hpaBaseline} policy: decide every 15 s; scale up at once (no stabilization) by at
 * most the larger of 100% or 4 replicas per 15 s; scale down only to the highest recommendation of the last
 * 300 s, by at most 100% per 15 s. (The HPA's 10% tolerance is `hpaBaseline`'s default.)
 *
 * ```ts
 * autoscaler({ ...hpaDefaults, policies: [hpaBaseline({ signal: 'cpu', target: 0.6 })], actuator, collectors, max: 20 })
 * ```
 */
export const hpaDefaults: HpaDefaults = deepFreeze({
  interval: 15_000,
  behavior: {
    scaleUp: {
      stabilizationWindowMs: 0,
      selectPolicy: 'max',
      policies: [
        { type: 'percent', value: 100, periodMs: 15_000 },
        { type: 'pods', value: 4, periodMs: 15_000 },
      ],
    },
    scaleDown: {
      stabilizationWindowMs: 300_000,
      selectPolicy: 'max',
      policies: [{ type: 'percent', value: 100, periodMs: 15_000 }],
    },
  },
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
