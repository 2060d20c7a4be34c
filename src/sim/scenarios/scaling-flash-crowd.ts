import type { Scenario } from '../run.ts';
import { patience, rateAtTarget, scalingDownstream, scalingSlo } from './scaling.ts';

/** Base load: the starting fleet at the target utilisation (189 requests per second). */
const base = Math.round(rateAtTarget(5));

/** When the spike starts (ms): between two decisions of a 15 s loop, as spikes do. */
export const spikeAt = 302_000;

/** The spike's rate: five times the base. */
export const spikeRate = 5 * base;

/**
 * Five replicas carry their base load at the 60% target. At 5 min 2 s a flash crowd ramps the rate to
 * five times it in 10 s, holds for 8 minutes and ebbs over a minute; the run goes on for 11 more minutes,
 * long enough to see a 5-minute scale-down window. New replicas take 30 to 60 s to serve.
 */
export const scalingFlashCrowd: Scenario = {
  name: 'scaling-flash-crowd',
  description:
    'A 5x flash crowd for 8 minutes on a fleet sized for its base load; new replicas take 30-60 s to serve.',
  seed: 1,
  duration: 1_500_000,
  workload: {
    type: 'spike',
    rate: base,
    spikes: [{ at: spikeAt, rate: spikeRate, rampUp: 10_000, hold: 480_000, rampDown: 60_000 }],
    timeout: patience,
  },
  downstream: scalingDownstream,
  policy: { type: 'autoscale' },
  slo: scalingSlo,
};
