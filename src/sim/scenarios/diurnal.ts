import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * A day compressed into two minutes: the rate swings from a fifth of the capacity at night to 1.3 times
 * it at the midday peak. A static limit is either too tight at night or too loose at noon; an adaptive one
 * is at capacity only while the load needs it.
 */
export const diurnal: Scenario = {
  name: 'diurnal',
  description: 'A day in two minutes: load from 0.2x to 1.3x capacity and back.',
  seed: 1,
  duration: 120_000,
  workload: {
    type: 'diurnal',
    min: 150,
    max: 960,
    period: 120_000,
    peakAt: 60_000,
    timeout: 1_000,
    priority: { critical: 1, normal: 6, sheddable: 3 },
  },
  downstream: { service, concurrency },
  policy: { type: 'limiter' },
  slo,
};
