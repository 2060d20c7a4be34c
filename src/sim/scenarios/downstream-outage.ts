import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * The service hangs for 10 s from 20 s (a stalled database, say): requests that start then finish only
 * when it ends, and for 10 s after it service times start three times longer and fall back to normal.
 * Callers time out after 1 s. Unprotected, every arrival during the outage piles into the service; a limit
 * holds what is stuck to a few requests and answers the rest at once.
 */
export const downstreamOutage: Scenario = {
  name: 'downstream-outage',
  description: 'The service hangs for 10 s, then recovers slowly; calls time out after 1 s.',
  seed: 1,
  duration: 60_000,
  workload: { type: 'poisson', rate: 500, timeout: 1_000 },
  downstream: {
    service,
    concurrency,
    timeout: 1_000,
    faults: [
      { type: 'outage', at: 20_000, duration: 10_000, mode: 'hang', recovery: 10_000, recoveryFactor: 3 },
    ],
  },
  policy: { type: 'limiter' },
  slo,
};
