/**
 * The guard: what a full sluice guard (retry, breaker, limiter, timeout) costs per call on the success
 * path, against a bare call and against cockatiel's `wrap(...)` of the same four policies, all measured in
 * one run and reported as ratios (the machine is noisy; ratios within one run are comparable).
 *
 * - sequential: one call at a time;
 * - concurrent: batches of 16 calls in flight at once (under every limit, so nothing queues).
 *
 * The candidates, each with a 1 s per-attempt timeout and three attempts at most:
 * - sluice `guard({ timeout })`: its defaults, i.e. a budgeted retry, a breaker (10 failures in a row, or
 *   50% of at least 20 calls over 10 s) and the adaptive limiter, in the order retry, breaker, limiter,
 *   timeout;
 * - the same with a fixed limit of 64 (the bulkhead's shape: no limit algorithm to feed);
 * - cockatiel `wrap(retry, circuitBreaker, bulkhead, timeout)`, the same order: retry with exponential
 *   backoff, a sampling breaker (50% over 10 s), a bulkhead of 64, a cooperative timeout;
 * - cockatiel `wrap(bulkhead, circuitBreaker, retry, timeout)`, the order the issue names.
 *
 * Target: the sluice guard no slower than the faster cockatiel composition (ratio <= 1), sequential and
 * concurrent. A third table, for information and not gated, drops the timeout from both sides: the
 * timeout (a timer and an abort signal per call) is the largest single cost on either side, and without
 * it the rest of the composition shows. Run with `npm run bench -- guard` (Node >= 22, --expose-gc).
 * Writes benchmarks/results/guard.json.
 */
import {
  bulkhead,
  circuitBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  SamplingBreaker,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { guard } from '../src/policies/guard.ts';
import { compare, environment, fixed, type Stats, type Task, table, writeJson } from './lib/harness.ts';

const LIMIT = 64;
const CONCURRENCY = 16;
const TIMEOUT = 1000;
const quick = process.argv.includes('--quick');
const SEQUENTIAL = { ops: quick ? 10_000 : 50_000, warmup: quick ? 2 : 5, rounds: quick ? 5 : 21 };
const CONCURRENT = { ops: quick ? 16_000 : 80_000, warmup: quick ? 2 : 5, rounds: quick ? 5 : 21 };
const UNTIMED = { ops: quick ? 10_000 : 50_000, warmup: quick ? 2 : 5, rounds: quick ? 5 : 15 };

/** The guarded work: an async no-op returning a value. */
const fn = async (): Promise<number> => 1;

interface Candidate {
  execute(work: () => Promise<number>): Promise<number>;
}

const candidates: Record<string, () => Candidate> = {
  'sluice guard (adaptive limit)': () => guard({ name: 'bench', timeout: TIMEOUT }),
  'sluice guard (fixed limit 64)': () =>
    guard({
      name: 'bench',
      timeout: TIMEOUT,
      limiter: { limit: LIMIT, queue: { size: 1000, timeout: Number.POSITIVE_INFINITY, target: false } },
    }),
  'cockatiel wrap(retry, breaker, bulkhead, timeout)': () =>
    wrap(
      retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
      circuitBreaker(handleAll, {
        halfOpenAfter: 5000,
        breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000 }),
      }),
      bulkhead(LIMIT, 1000),
      timeout(TIMEOUT, TimeoutStrategy.Cooperative),
    ),
  'cockatiel wrap(bulkhead, breaker, retry, timeout)': () =>
    wrap(
      bulkhead(LIMIT, 1000),
      circuitBreaker(handleAll, {
        halfOpenAfter: 5000,
        breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000 }),
      }),
      retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
      timeout(TIMEOUT, TimeoutStrategy.Cooperative),
    ),
};

/** The same compositions without their timeouts. */
const untimed: Record<string, () => Candidate> = {
  'sluice guard (adaptive limit)': () => guard({ name: 'bench' }),
  'sluice guard (fixed limit 64)': () =>
    guard({
      name: 'bench',
      limiter: { limit: LIMIT, queue: { size: 1000, timeout: Number.POSITIVE_INFINITY, target: false } },
    }),
  'cockatiel wrap(retry, breaker, bulkhead)': () =>
    wrap(
      retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
      circuitBreaker(handleAll, {
        halfOpenAfter: 5000,
        breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000 }),
      }),
      bulkhead(LIMIT, 1000),
    ),
};
const sluiceName = 'sluice guard (adaptive limit)';
const cockatielNames = Object.keys(candidates).filter((n) => n.startsWith('cockatiel'));

let sink = 0;

/** Sums a settled batch; a rejection fails the run rather than flattering it. */
async function settle(calls: Promise<number>[]): Promise<void> {
  const values = await Promise.all(calls);
  let s = 0;
  for (const v of values) s += v;
  if (s !== calls.length) throw new Error(`batch lost calls: ${s} of ${calls.length} returned`);
  sink += s;
}

// Each task is its own closure over its own policy, built once: the cost measured is the call's.
function sequentialTasks(set: Record<string, () => Candidate> = candidates): Record<string, Task> {
  const tasks: Record<string, Task> = {
    'bare await fn()': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await fn();
      sink += s;
    },
  };
  for (const [name, make] of Object.entries(set)) {
    const policy = make();
    tasks[name] = async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await policy.execute(fn);
      sink += s;
    };
  }
  return tasks;
}

function concurrentTasks(): Record<string, Task> {
  const tasks: Record<string, Task> = {
    'bare (no policy)': async (ops) => {
      for (let done = 0; done < ops; done += CONCURRENCY) {
        const calls = new Array<Promise<number>>(CONCURRENCY);
        for (let i = 0; i < CONCURRENCY; i++) calls[i] = fn();
        await settle(calls);
      }
    },
  };
  for (const [name, make] of Object.entries(candidates)) {
    const policy = make();
    tasks[name] = async (ops) => {
      for (let done = 0; done < ops; done += CONCURRENCY) {
        const calls = new Array<Promise<number>>(CONCURRENCY);
        for (let i = 0; i < CONCURRENCY; i++) calls[i] = policy.execute(fn);
        await settle(calls);
      }
    };
  }
  return tasks;
}

function fastest(results: Map<string, Stats>, names: readonly string[]): { name: string; ns: number } {
  let winner = { name: '', ns: Number.POSITIVE_INFINITY };
  for (const name of names) {
    const ns = results.get(name)!.median;
    if (ns < winner.ns) winner = { name, ns };
  }
  return winner;
}

function report(title: string, results: Map<string, Stats>, bare: number): { name: string; ns: number } {
  const best = fastest(results, cockatielNames);
  table(
    title,
    ['candidate', 'ns/call', 'min', 'spread', 'vs bare', 'vs cockatiel'],
    [...results].map(([name, s]) => [
      name,
      fixed(s.median),
      fixed(s.min),
      `±${fixed(s.spread * 50, 0)}%`,
      `${fixed(s.median / bare, 2)}x`,
      `${fixed(s.median / best.ns, 2)}x`,
    ]),
  );
  return best;
}

console.log(`sluice guard benchmark — ${process.version}, ${quick ? 'quick' : 'full'} run`);

const sequential = await compare(sequentialTasks(), SEQUENTIAL);
const bareSequential = sequential.get('bare await fn()')!.median;
const bestSequential = report(
  `sequential: one call at a time (${SEQUENTIAL.ops} calls × ${SEQUENTIAL.rounds} rounds)`,
  sequential,
  bareSequential,
);

const concurrent = await compare(concurrentTasks(), CONCURRENT);
const bareConcurrent = concurrent.get('bare (no policy)')!.median;
const bestConcurrent = report(
  `concurrent: batches of ${CONCURRENCY} calls in flight (${CONCURRENT.ops} calls × ${CONCURRENT.rounds} rounds)`,
  concurrent,
  bareConcurrent,
);

const untimedResults = await compare(sequentialTasks(untimed), UNTIMED);
const bareUntimed = untimedResults.get('bare await fn()')!.median;
const cockatielUntimed = untimedResults.get('cockatiel wrap(retry, breaker, bulkhead)')!.median;
table(
  `sequential, without the timeout (information, not gated; ${UNTIMED.ops} calls × ${UNTIMED.rounds} rounds)`,
  ['candidate', 'ns/call', 'min', 'spread', 'vs bare', 'vs cockatiel'],
  [...untimedResults].map(([name, s]) => [
    name,
    fixed(s.median),
    fixed(s.min),
    `±${fixed(s.spread * 50, 0)}%`,
    `${fixed(s.median / bareUntimed, 2)}x`,
    `${fixed(s.median / cockatielUntimed, 2)}x`,
  ]),
);

// The sums keep the calls' results alive, so no candidate's work can be optimised away.
if (!(sink > 0)) throw new Error('no call returned its value');

const gates = [
  { mode: 'sequential', results: sequential, best: bestSequential },
  { mode: 'concurrent', results: concurrent, best: bestConcurrent },
].map(({ mode, results, best }) => {
  const ratio = results.get(sluiceName)!.median / best.ns;
  return { gate: `${mode}: ${sluiceName} vs ${best.name}`, target: '<= 1.00x', ratio, pass: ratio <= 1 };
});
table(
  'gates',
  ['gate', 'target', 'measured', 'verdict'],
  gates.map((g) => [g.gate, g.target, `${fixed(g.ratio, 2)}x`, g.pass ? 'PASS' : 'MISS']),
);

const round = (n: number): number => Math.round(n * 100) / 100;
const record = (results: Map<string, Stats>, bare: number, best: number) =>
  Object.fromEntries(
    [...results].map(([name, s]) => [
      name,
      {
        ...s,
        median: round(s.median),
        min: round(s.min),
        max: round(s.max),
        vsBare: round(s.median / bare),
        vsCockatiel: round(s.median / best),
      },
    ]),
  );

writeJson(new URL('./results/guard.json', import.meta.url), {
  environment: environment(),
  settings: {
    limit: LIMIT,
    concurrency: CONCURRENCY,
    timeout: TIMEOUT,
    sequential: SEQUENTIAL,
    concurrent: CONCURRENT,
    untimed: UNTIMED,
    quick,
  },
  sequential: {
    unit: 'ns/call',
    baseline: 'bare await fn()',
    cockatiel: bestSequential.name,
    results: record(sequential, bareSequential, bestSequential.ns),
  },
  concurrent: {
    unit: 'ns/call',
    baseline: 'bare (no policy)',
    cockatiel: bestConcurrent.name,
    results: record(concurrent, bareConcurrent, bestConcurrent.ns),
  },
  untimed: {
    unit: 'ns/call',
    baseline: 'bare await fn()',
    cockatiel: 'cockatiel wrap(retry, breaker, bulkhead)',
    gated: false,
    results: record(untimedResults, bareUntimed, cockatielUntimed),
  },
  gates: gates.map((g) => ({ ...g, ratio: round(g.ratio) })),
});
console.log('\nwrote benchmarks/results/guard.json');
if (gates.some((g) => !g.pass)) process.exitCode = 1;
