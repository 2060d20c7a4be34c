import type { Scenario } from '../run.ts';
import { service, slo } from './common.ts';

/**
 * Four replicas of five servers each carry 75% of their capacity. At 20 s two replicas fail, halving the
 * capacity (the load is now 1.5 times it); replacements are asked for at 50 s and take 5 s to start. A
 * static limit tuned for four replicas admits twice what two can serve, so the excess queues inside the
 * service and latency climbs; an adaptive limit follows the capacity down and back up.
 */
export const capacityDrop: Scenario = {
  name: 'capacity-drop',
  description: 'Two of four replicas fail at 20 s; replacements are asked for at 50 s and start in 5 s.',
  seed: 1,
  duration: 80_000,
  workload: { type: 'poisson', rate: 550, timeout: 1_000 },
  downstream: {
    service,
    concurrency: 5,
    replicas: {
      count: 4,
      startup: 5_000,
      schedule: [
        { at: 20_000, count: 2 },
        { at: 50_000, count: 4 },
      ],
    },
  },
  policy: { type: 'limiter' },
  slo,
};
