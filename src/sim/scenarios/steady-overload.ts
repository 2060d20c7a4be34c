import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * Offered load 1.5 times the capacity, for the whole run. Clients wait at most a second. Unprotected, the
 * service's queue grows without bound: soon every request waits longer than its client does, and the
 * service spends its whole capacity on answers nobody is waiting for (congestion collapse). A limit keeps
 * the queue short and serves at capacity; priorities decide who is shed.
 */
export const steadyOverload: Scenario = {
  name: 'steady-overload',
  description: 'Offered load at 1.5x capacity for a minute; clients give up after 1 s.',
  seed: 1,
  duration: 60_000,
  warmup: 5_000,
  workload: {
    type: 'poisson',
    rate: 1_100,
    timeout: 1_000,
    priority: { critical: 1, normal: 6, sheddable: 3 },
  },
  downstream: { service, concurrency },
  policy: { type: 'limiter' },
  slo,
};
