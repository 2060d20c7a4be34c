import type { Scenario } from '../run.ts';
import { patience, rateAtTarget, scalingDownstream, scalingSlo } from './scaling.ts';

/**
 * Bursty traffic: a Markov-modulated Poisson process between the base load (the starting fleet at the
 * 60% target, 189 requests per second) for spells of 5 minutes on average and bursts at 3.5 times it for
 * 2.5 minutes on average, over 30 minutes. Bursts come at random (the same ones for every policy, by the
 * seed), some soon after the last: a long scale-down window keeps capacity for them, a short one saves it.
 * A burst at 3.5x is more than one HPA step on CPU (at most 1/0.6 = 1.67x per step) can carry; one
 * shorter than the start-up delay is over before any new replica serves, whatever the policy.
 */
export const scalingBursty: Scenario = {
  name: 'scaling-bursty',
  description:
    'Random bursts at 3.5x the base load, 2.5 minutes long and 5 minutes apart on average, for 30 minutes.',
  seed: 1,
  duration: 1_800_000,
  workload: {
    type: 'mmpp',
    states: [
      { rate: Math.round(rateAtTarget(5)), mean: 300_000 },
      { rate: Math.round(3.5 * rateAtTarget(5)), mean: 150_000 },
    ],
    timeout: patience,
  },
  downstream: scalingDownstream,
  policy: { type: 'autoscale' },
  slo: scalingSlo,
};
