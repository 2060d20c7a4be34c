import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * A healthy service at 70% of its capacity, whose clients give up after 500 ms and retry at once, up to
 * three times. A 5 s latency spike at 20 s makes requests time out; each timeout comes back as a retry,
 * so the offered load multiplies while the capacity is down. Unprotected, the retries keep the service
 * overloaded long after the spike is over (a metastable failure); shedding early, which costs the service
 * nothing, lets it recover.
 */
export const retryStorm: Scenario = {
  name: 'retry-storm',
  description: 'A 5 s latency spike at 70% load; impatient clients retry at once, three times.',
  seed: 1,
  duration: 60_000,
  workload: {
    type: 'poisson',
    rate: 520,
    timeout: 500,
    retry: { attempts: 3, backoff: 0 },
  },
  downstream: {
    service,
    concurrency,
    faults: [{ type: 'latency', at: 20_000, duration: 5_000, factor: 4 }],
  },
  policy: { type: 'limiter' },
  slo,
};
