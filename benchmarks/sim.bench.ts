/**
 * Simulator speed: one simulated hour at 1,000 requests per second (3.6 million requests) through the real
 * limiter (gradient2, default queue), against a thread-pool downstream whose capacity halves for ten
 * minutes in the middle, so the limiter spends part of the hour shedding. Target: <= 10 s of real time.
 * The same hour with no policy is run for comparison (the simulator's own share of the cost). Reports real
 * seconds, microseconds per request, events, and the heap after the run (statistics are streamed, so it
 * does not grow with the run). Writes benchmarks/results/sim.json.
 *
 *   sh scripts/use-node.sh node benchmarks/sim.bench.ts [--quick]   (--quick: ten simulated minutes)
 */
import { memoryUsage } from 'node:process';
import { type Scenario, simulate } from '../src/sim/index.ts';
import { environment, fixed, table, writeJson } from './lib/harness.ts';

const quick = process.argv.includes('--quick');
const HOUR = 3_600_000;
const duration = quick ? HOUR / 6 : HOUR;
const TARGET_S = 10;

function scenario(policy: Scenario['policy']): Scenario {
  return {
    name: 'one hour at 1000 rps',
    seed: 1,
    duration,
    workload: { type: 'poisson', rate: 1000, timeout: 1000 },
    downstream: {
      service: { type: 'lognormal', median: 20, sigma: 0.6 },
      concurrency: 30,
      schedule: [
        { at: duration / 3, concurrency: 15 },
        { at: duration / 3 + duration / 6, concurrency: 30 },
      ],
    },
    ...(policy === undefined ? {} : { policy }),
    slo: { latency: 100 },
  };
}

interface Row {
  readonly seconds: number;
  readonly perRequestUs: number;
  readonly requests: number;
  readonly events: number;
  readonly heapMiB: number;
  readonly goodput: number;
  readonly p99: number | null;
  readonly shed: number;
}

async function measure(policy: Scenario['policy']): Promise<Row> {
  globalThis.gc?.();
  const start = performance.now();
  const result = await simulate(scenario(policy));
  const seconds = (performance.now() - start) / 1000;
  globalThis.gc?.();
  const s = result.summary;
  return {
    seconds,
    perRequestUs: (seconds * 1e6) / s.offered,
    requests: s.offered,
    events: result.events,
    heapMiB: memoryUsage().heapUsed / 2 ** 20,
    goodput: s.goodput,
    p99: s.latency.p99,
    shed: s.shed,
  };
}

const mode = quick ? 'quick (10 simulated minutes)' : 'full (one simulated hour)';
console.log(`sluice simulator benchmark — ${process.version}, ${mode}`);
// A short warm-up run, so that both measured runs execute optimised code.
await simulate({ ...scenario({ type: 'limiter' }), duration: 60_000 });
const limiter = await measure({ type: 'limiter' });
const none = await measure(undefined);

const row = (name: string, r: Row): string[] => [
  name,
  fixed(r.seconds, 2),
  fixed(r.perRequestUs, 2),
  String(r.requests),
  String(r.events),
  fixed(r.heapMiB, 1),
  fixed(r.goodput, 1),
  r.p99 === null ? '-' : fixed(r.p99, 1),
  String(r.shed),
];
table(
  `${duration / 60_000} simulated minutes at 1000 rps`,
  ['policy', 'real s', 'µs/request', 'requests', 'events', 'heap MiB', 'goodput/s', 'p99 ms', 'shed'],
  [row('limiter', limiter), row('none', none)],
);
const hourSeconds = (limiter.seconds * HOUR) / duration;
const verdict = hourSeconds <= TARGET_S ? 'meets' : 'misses';
const target = `target <= ${TARGET_S} s: ${verdict}`;
console.log(`\none simulated hour through the limiter: ${fixed(hourSeconds, 2)} s real (${target})`);

writeJson(new URL('./results/sim.json', import.meta.url), {
  environment: environment(),
  settings: { duration, rate: 1000, quick },
  unit: 'seconds of real time',
  results: { limiter, none, hourSecondsThroughLimiter: hourSeconds, targetSeconds: TARGET_S },
});
