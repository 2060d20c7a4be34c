/**
 * The gate: what sluice's limiter costs on the request path, against a bare call and against the
 * libraries users would otherwise pick, all measured in one run and reported as ratios (the machine is
 * noisy; absolute nanoseconds are not comparable across runs, ratios within one run are).
 *
 * - sequential: one call at a time, never queued (the cost of admission itself);
 * - burst: 10,000 concurrent calls through a limit of 64 (the cost of queueing and dispatch);
 * - memory: heap per waiter, with 10,000 waiters parked behind a held limit.
 *
 * Targets: sequential <= 1.5x the bare call; burst <= half the best of p-limit, p-queue and cockatiel.
 * Run with `npm run bench` (Node >= 22, --expose-gc). Writes benchmarks/results/gate.json.
 */
import { bulkhead } from 'cockatiel';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { createLimiter } from '../src/limiter/limiter.ts';
import {
  collect,
  compare,
  environment,
  fixed,
  hasGc,
  type Stats,
  summarise,
  type Task,
  table,
  writeJson,
} from './lib/harness.ts';

const LIMIT = 64;
const BURST = 10_000;
const PARKED = 10_000;
const quick = process.argv.includes('--quick');
const SEQUENTIAL = { ops: quick ? 20_000 : 100_000, warmup: quick ? 2 : 5, rounds: quick ? 5 : 21 };
const BURSTS = { ops: BURST * (quick ? 1 : 5), warmup: quick ? 2 : 5, rounds: quick ? 5 : 21 };
const MEMORY_ROUNDS = quick ? 2 : 5;

/** The guarded work: an async no-op returning a value. */
const fn = async (): Promise<number> => 1;

// Every candidate gets the same shape: a limit of 64 and a queue that holds a whole burst, FIFO.
const makeSluice = () =>
  createLimiter({
    name: 'bench',
    limit: LIMIT,
    queue: { size: 2 * BURST, timeout: Number.POSITIVE_INFINITY, target: false },
  });
const makePLimit = () => pLimit(LIMIT);
const makePQueue = () => new PQueue({ concurrency: LIMIT });
const makeBulkhead = () => bulkhead(LIMIT, 2 * BURST);

let sink = 0;

// Each loop is its own function literal, so each call site stays monomorphic for its candidate.
function sequentialTasks(): Record<string, Task> {
  const sluice = makeSluice();
  const limit = makePLimit();
  const queue = makePQueue();
  const bulk = makeBulkhead();
  return {
    'bare await fn()': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await fn();
      sink += s;
    },
    'sluice limiter.run': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await sluice.run(fn);
      sink += s;
    },
    'p-limit': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await limit(fn);
      sink += s;
    },
    'p-queue': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += (await queue.add(fn)) as number;
      sink += s;
    },
    'cockatiel bulkhead': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += await bulk.execute(fn);
      sink += s;
    },
  };
}

/** Sums a settled burst; a rejection (a shed or timed-out call) fails the run rather than flattering it. */
async function settle(calls: Promise<number>[]): Promise<void> {
  const values = await Promise.all(calls);
  let s = 0;
  for (const v of values) s += v;
  if (s !== calls.length) throw new Error(`burst lost calls: ${s} of ${calls.length} returned`);
  sink += s;
}

function burstTasks(): Record<string, Task> {
  const sluice = makeSluice();
  const limit = makePLimit();
  const queue = makePQueue();
  const bulk = makeBulkhead();
  return {
    'bare (no limit)': async (ops) => {
      for (let done = 0; done < ops; done += BURST) {
        const calls = new Array<Promise<number>>(BURST);
        for (let i = 0; i < BURST; i++) calls[i] = fn();
        await settle(calls);
      }
    },
    'sluice limiter.run': async (ops) => {
      for (let done = 0; done < ops; done += BURST) {
        const calls = new Array<Promise<number>>(BURST);
        for (let i = 0; i < BURST; i++) calls[i] = sluice.run(fn);
        await settle(calls);
      }
    },
    'p-limit': async (ops) => {
      for (let done = 0; done < ops; done += BURST) {
        const calls = new Array<Promise<number>>(BURST);
        for (let i = 0; i < BURST; i++) calls[i] = limit(fn);
        await settle(calls);
      }
    },
    'p-queue': async (ops) => {
      for (let done = 0; done < ops; done += BURST) {
        const calls = new Array<Promise<number>>(BURST);
        for (let i = 0; i < BURST; i++) calls[i] = queue.add(fn) as Promise<number>;
        await settle(calls);
      }
    },
    'cockatiel bulkhead': async (ops) => {
      for (let done = 0; done < ops; done += BURST) {
        const calls = new Array<Promise<number>>(BURST);
        for (let i = 0; i < BURST; i++) calls[i] = bulk.execute(fn);
        await settle(calls);
      }
    },
  };
}

/**
 * One way to park waiters: `hold` occupies the whole limit with calls that do not finish until released;
 * `enqueue` adds one more call, which must wait.
 */
interface Parking {
  hold(work: () => Promise<number>): Promise<number>;
  enqueue(): Promise<number>;
}

const parkings: Record<string, () => Parking> = {
  'sluice limiter.run': () => {
    const l = makeSluice();
    return { hold: (work) => l.run(work), enqueue: () => l.run(fn) };
  },
  'p-limit': () => {
    const l = makePLimit();
    return { hold: (work) => l(work), enqueue: () => l(fn) };
  },
  'p-queue': () => {
    const q = makePQueue();
    return { hold: (work) => q.add(work) as Promise<number>, enqueue: () => q.add(fn) as Promise<number> };
  },
  'cockatiel bulkhead': () => {
    const b = makeBulkhead();
    return { hold: (work) => b.execute(work), enqueue: () => b.execute(fn) };
  },
};

/** Heap bytes per parked waiter: the heap after parking PARKED calls, less the heap before, over PARKED. */
async function bytesPerWaiter(make: () => Parking): Promise<number> {
  const parking = make();
  const releases: (() => void)[] = [];
  const held: Promise<number>[] = [];
  for (let i = 0; i < LIMIT; i++) {
    held.push(parking.hold(() => new Promise<number>((resolve) => releases.push(() => resolve(1)))));
  }
  // Let the held calls start, so that every later call queues.
  await new Promise((resolve) => setImmediate(resolve));
  const parked = new Array<Promise<number>>(PARKED);
  collect();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < PARKED; i++) parked[i] = parking.enqueue();
  collect();
  const after = process.memoryUsage().heapUsed;
  for (const release of releases) release();
  await settle(held);
  await settle(parked);
  return (after - before) / PARKED;
}

async function memory(): Promise<Map<string, Stats>> {
  const results = new Map<string, Stats>();
  if (!hasGc()) return results;
  const samples = new Map<string, number[]>(Object.keys(parkings).map((n) => [n, []]));
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    for (const [name, make] of Object.entries(parkings)) samples.get(name)!.push(await bytesPerWaiter(make));
  }
  for (const [name, values] of samples) results.set(name, summarise(values));
  return results;
}

const libraries = ['p-limit', 'p-queue', 'cockatiel bulkhead'];

function best(results: Map<string, Stats>): { name: string; ns: number } {
  let winner = { name: '', ns: Infinity };
  for (const name of libraries) {
    const ns = results.get(name)!.median;
    if (ns < winner.ns) winner = { name, ns };
  }
  return winner;
}

console.log(`sluice gate benchmark — ${process.version}, ${quick ? 'quick' : 'full'} run`);

const sequential = await compare(sequentialTasks(), SEQUENTIAL);
const bare = sequential.get('bare await fn()')!.median;
table(
  `sequential: one call at a time (${SEQUENTIAL.ops} calls × ${SEQUENTIAL.rounds} rounds)`,
  ['candidate', 'ns/call', 'min', 'spread', 'vs bare'],
  [...sequential].map(([name, s]) => [
    name,
    fixed(s.median),
    fixed(s.min),
    `±${fixed(s.spread * 50, 0)}%`,
    `${fixed(s.median / bare, 2)}x`,
  ]),
);

const burst = await compare(burstTasks(), BURSTS);
const bestBurst = best(burst);
table(
  `burst: ${BURST} concurrent calls through a limit of ${LIMIT} (${BURSTS.ops / BURST} bursts × ${BURSTS.rounds} rounds)`,
  ['candidate', 'ns/call', 'min', 'spread', `vs ${bestBurst.name}`],
  [...burst].map(([name, s]) => [
    name,
    fixed(s.median),
    fixed(s.min),
    `±${fixed(s.spread * 50, 0)}%`,
    `${fixed(s.median / bestBurst.ns, 2)}x`,
  ]),
);

const mem = await memory();
if (mem.size > 0) {
  table(
    `memory: heap per waiter, ${PARKED} parked behind a held limit (${MEMORY_ROUNDS} rounds)`,
    ['candidate', 'bytes/waiter', 'min', 'max'],
    [...mem].map(([name, s]) => [name, fixed(s.median, 0), fixed(s.min, 0), fixed(s.max, 0)]),
  );
} else {
  console.log('\nmemory: skipped (run node with --expose-gc)');
}

// The sums keep the calls' results alive, so no candidate's work can be optimised away.
if (!(sink > 0)) throw new Error('no call returned its value');

const sequentialRatio = sequential.get('sluice limiter.run')!.median / bare;
const burstRatio = burst.get('sluice limiter.run')!.median / bestBurst.ns;
const gates = [
  {
    gate: 'sequential vs bare call',
    target: '<= 1.5x',
    ratio: sequentialRatio,
    pass: sequentialRatio <= 1.5,
  },
  {
    gate: `burst vs best library (${bestBurst.name})`,
    target: '<= 0.5x',
    ratio: burstRatio,
    pass: burstRatio <= 0.5,
  },
];
table(
  'gates',
  ['gate', 'target', 'measured', 'verdict'],
  gates.map((g) => [g.gate, g.target, `${fixed(g.ratio, 2)}x`, g.pass ? 'PASS' : 'MISS']),
);

const record = (results: Map<string, Stats>, base: number) =>
  Object.fromEntries(
    [...results].map(([name, s]) => [
      name,
      { ...s, median: round(s.median), min: round(s.min), max: round(s.max), ratio: round(s.median / base) },
    ]),
  );
const round = (n: number): number => Math.round(n * 100) / 100;

writeJson(new URL('./results/gate.json', import.meta.url), {
  environment: environment(),
  settings: { limit: LIMIT, burst: BURST, parked: PARKED, sequential: SEQUENTIAL, bursts: BURSTS, quick },
  sequential: { unit: 'ns/call', baseline: 'bare await fn()', results: record(sequential, bare) },
  burst: { unit: 'ns/call', baseline: bestBurst.name, results: record(burst, bestBurst.ns) },
  memory: {
    unit: 'bytes/waiter',
    results: Object.fromEntries([...mem].map(([name, s]) => [name, { ...s, median: round(s.median) }])),
  },
  gates: gates.map((g) => ({ ...g, ratio: round(g.ratio) })),
});
console.log('\nwrote benchmarks/results/gate.json');
if (gates.some((g) => !g.pass)) process.exitCode = 1;
