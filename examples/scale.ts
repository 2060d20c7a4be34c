// The README's scaling examples, type-checked by `npm test` (not run: the clients are declared).

import type { Redis } from 'ioredis';
import { createLimiter } from '../src/index.ts';
import {
  burst,
  createAutoscaler,
  createPool,
  kubernetesActuator,
  limiterCollector,
  predictive,
  promqlCollector,
  queueBased,
  redisStreamCollector,
  targetTracking,
} from '../src/scale/index.ts';

declare const redis: Redis; // ioredis

// --- autoscaler
const limiter = createLimiter();
const autoscaler = createAutoscaler({
  collectors: [
    limiterCollector(limiter), // this process: limit, inflight, queued, latency
    redisStreamCollector({ redis, stream: 'jobs', group: 'workers' }), // backlog, backlogGrowth
    promqlCollector({
      url: 'http://prometheus:9090',
      queries: { rps: 'sum(rate(http_requests_total{job="api"}[1m]))' },
    }),
  ],
  policies: [
    predictive({ policy: targetTracking({ signal: 'rps', per: 'total', target: 150 }) }),
    queueBased({ backlog: 'backlog', rate: 40, drainTime: 60_000 }), // Little's law: drain within a minute
    burst({ signal: 'rps', per: 'total', target: 150, readiness: 45_000 }), // a spike: jump, once
  ],
  actuator: kubernetesActuator({ kind: 'Deployment', name: 'api', namespace: 'shop' }),
  min: 2,
  max: 40,
  warmup: 30_000, // new pods are left out of the signals for 30 s
  behavior: { scaleDown: { stabilizationWindowMs: 300_000 } },
  cost: {
    pricePerReplicaHour: 0.4,
    maxSpendPerHour: 10,
    preemptible: { share: 0.5, pricePerReplicaHour: 0.12 },
  },
  rollback: { windowMs: 120_000 }, // revert a step that did not help
});
autoscaler.on('decision', (d) => console.log(d.summary));
autoscaler.start();

// --- worker pool
const pool = createPool({ min: 1, max: 8, worker: { module: new URL('./thumbnail.js', import.meta.url) } });
await pool.submit({ path: 'cat.jpg', width: 320 });
pool.resize(4); // or hand pool.actuator and pool.collector to an autoscaler
await pool.close(); // runs what is queued, then stops the threads
