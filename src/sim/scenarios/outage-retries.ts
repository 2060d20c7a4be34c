import type { Scenario } from '../run.ts';
import { concurrency, service, slo } from './common.ts';

/**
 * A healthy service at about half its capacity fails fast for 10 s from 10 s: every request is answered
 * 503 within 5 ms (a proxy with no healthy backend), then it is healthy again. The policy retries inside
 * each call: unbudgeted, three attempts each triple the load on the failing service; within sluice's
 * default retry budget, retries add about 10% of the first attempts; a breaker in front keeps almost
 * everything off it until its probes find it healthy again.
 */
export const outageRetries: Scenario = {
  name: 'outage-retries',
  description: 'The service fails fast with 503 for 10 s at half load; retries inside each call.',
  seed: 1,
  duration: 40_000,
  workload: { type: 'poisson', rate: 400 },
  downstream: {
    service,
    concurrency,
    faults: [{ type: 'outage', at: 10_000, duration: 10_000, latency: 5, as: 'overload' }],
  },
  policy: [{ type: 'retry' }, { type: 'breaker' }, { type: 'limiter' }],
  slo,
};
