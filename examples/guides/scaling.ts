// docs/guides/scaling.md, runnable: sh scripts/use-node.sh node examples/guides/scaling.ts
//
// Part 1 drives an autoscaler on a VirtualClock (from 'sluice/testing') against an in-memory actuator, so
// that half an hour of decisions takes a blink. Part 2 scales a real worker pool in this process.

import {
  type AutoscaleDecision,
  burst,
  createAutoscaler,
  createPool,
  gaugeCollector,
  memoryActuator,
  queueBased,
  targetTracking,
} from '../../src/scale/index.ts';
import { VirtualClock } from '../../src/testing.ts';

// --- Part 1: collectors -> policies -> guards -> actuator, every decision explained.
const clock = new VirtualClock();
const load = { rps: 300, backlog: 0 }; // what the service sees; we change it below
const actuator = memoryActuator({ replicas: 3, startupMs: 30_000, clock }); // replicas take 30 s to start

const autoscaler = createAutoscaler({
  name: 'api',
  clock,
  collectors: [gaugeCollector('service', () => ({ ...load }))], // readings become signals of the same name
  policies: [
    targetTracking({ signal: 'rps', per: 'total', target: 100 }), // one replica carries 100 rps
    queueBased({ backlog: 'backlog', rate: 40, drainTime: 60_000, idle: 'abstain' }), // Little's law
    burst({ signal: 'rps', per: 'total', target: 100, readiness: 30_000 }), // a spike: jump at once
  ],
  actuator,
  min: 2,
  max: 12,
  interval: 15_000,
  warmup: 10_000, // new replicas are left out of the per-replica ratios for 10 s
  horizon: 30_000, // forecasts look as far ahead as a replica takes to start
  cost: { pricePerReplicaHour: 0.4, maxSpendPerHour: 4 }, // at most 10 replicas
  behavior: { scaleDown: { stabilizationWindowMs: 120_000 } }, // HPA's defaults otherwise
  cooldown: { up: 15_000 },
});
let lastRule = '';
autoscaler.on('decision', (d: AutoscaleDecision) => {
  // Print the changes, and a hold when its reason changes (every decision is in autoscaler.decisions).
  if (d.changed || d.rule !== lastRule) console.log(`${String(d.at / 1000).padStart(5)} s  ${d.summary}`);
  lastRule = d.rule;
});

async function run(ms: number): Promise<void> {
  for (const end = clock.now() + ms; clock.now() < end; ) {
    await autoscaler.tick(); // `autoscaler.start()` does this every interval on its own clock
    await clock.advanceAsync(15_000);
  }
}
await run(45_000); // steady: 300 rps on 3 replicas, holds
load.rps = 1_500; // a spike: 5x
await run(90_000);
load.rps = 400;
load.backlog = 6_000; // a backlog builds: Little's law sizes for it
await run(60_000);
load.backlog = 0;
await run(180_000); // quiet: scale down only after the stabilization window

// --- Dry-run and shadow: decide and record, act on nothing; compare a candidate with the live policies.
const trial = createAutoscaler({
  name: 'trial',
  clock,
  mode: 'dry-run',
  collectors: [gaugeCollector('service', () => ({ ...load }))],
  policies: [targetTracking({ signal: 'rps', per: 'total', target: 100 })],
  shadow: { policies: [targetTracking({ signal: 'rps', per: 'total', target: 80 })] },
  actuator: memoryActuator({ replicas: 4, clock }),
  max: 20,
});
const d = await trial.tick();
console.log(`dry-run: ${d.summary}`);

// --- Part 2: a worker pool that grows at once and shrinks without losing work, sized by an autoscaler.
const pool = createPool({
  name: 'thumbnails',
  min: 1,
  max: 8,
  run: async (ms: number) => new Promise<number>((resolve) => setTimeout(() => resolve(ms), ms)),
});
const jobs = Array.from({ length: 40 }, () => pool.submit(20));
const poolScaler = createAutoscaler({
  collectors: [pool.collector], // queued, busy, utilisation, arrivalRate, waitP99Ms, ...
  policies: [queueBased({ backlog: 'queued', perReplica: 5 })],
  actuator: pool.actuator, // capacity() is { desired: size, ready }, scale(n) is resize(n)
  min: 1,
  max: 8,
});
console.log(`pool: ${(await poolScaler.tick()).summary}`);
await Promise.all(jobs);
console.log(`pool: ${JSON.stringify(pool.snapshot())}`);
await pool.close(); // runs what is queued, then stops the workers
