import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * Steady traffic at half the capacity, then a flash crowd: the rate ramps to 2.5 times the capacity over
 * 3 s, holds for 15 s and ebbs over 5 s. Clients give up after 2 s and retry twice with backoff.
 */
export const flashCrowd: Scenario = {
  name: 'flash-crowd',
  description: 'A spike to 2.5x capacity for 15 s on top of traffic at half capacity; clients retry twice.',
  seed: 1,
  duration: 60_000,
  workload: {
    type: 'spike',
    rate: 370,
    spikes: [{ at: 15_000, rate: 1_850, rampUp: 3_000, hold: 15_000, rampDown: 5_000 }],
    timeout: 2_000,
    priority: { critical: 1, normal: 7, sheddable: 2 },
    retry: { attempts: 2, backoff: { initial: 200, multiplier: 2, max: 2_000 } },
  },
  downstream: { service, concurrency },
  policy: { type: 'limiter' },
  slo,
};
