import type { Scenario } from '../run.ts';
import { patience, rateAtTarget, scalingDownstream, scalingSlo } from './scaling.ts';

/** One hour of the day in simulated ms: a day in 30 minutes. */
const HOUR = 75_000;

/** The midday peak: 20 replicas' worth at the 60% target (756 requests per second). */
const peak = rateAtTarget(20);

/**
 * The shape of a working day, as a share of the midday peak at each hour: a quiet night at a tenth of it,
 * a steep morning (from 10% at 6:00 to 95% at 9:00), the peak at noon, a dip after lunch, a second peak at
 * 17:00 and a long evening decline.
 */
const day: readonly (readonly [hour: number, share: number])[] = [
  [0, 0.1],
  [6, 0.1],
  [9, 0.95],
  [12, 1],
  [14, 0.85],
  [17, 0.95],
  [20, 0.5],
  [23, 0.15],
  [24, 0.1],
];

/**
 * A day compressed 48 times into 30 minutes, linear between the hours of `day`. The morning ramp (2.9
 * requests per second more every second for almost 4 minutes, so the load doubles within a minute early
 * on) outruns a reactive autoscaler whose new replicas take 30 to 60 s; the evening decline leaves a
 * 5-minute scale-down window holding capacity.
 */
export const scalingDiurnal: Scenario = {
  name: 'scaling-diurnal',
  description:
    'A working day in 30 minutes: a quiet night, a steep morning ramp to 20 replicas’ worth at midday, a long evening decline.',
  seed: 1,
  duration: 24 * HOUR,
  workload: {
    type: 'profile',
    points: day.map(([hour, share]) => ({ at: hour * HOUR, rate: Math.round(share * peak) })),
    timeout: patience,
  },
  downstream: scalingDownstream,
  policy: { type: 'autoscale' },
  slo: scalingSlo,
};
