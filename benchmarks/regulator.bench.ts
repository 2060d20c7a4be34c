/**
 * The regulator's hot path: `tryTake()` when tokens are there and when they are not, and `record()`,
 * against an empty loop and a bare clock read measured in the same run. Each hot-path call reads the
 * clock once, so the same `tryTake()` on a virtual clock (a field read) shows the regulator's own share.
 * Writes benchmarks/results/regulator.json.
 */
import { systemClock } from '../src/core/clock.ts';
import { VirtualClock } from '../src/core/virtual-clock.ts';
import { createRegulator } from '../src/regulator/index.ts';
import { compare, environment, fixed, type Task, table, writeJson } from './lib/harness.ts';

const quick = process.argv.includes('--quick');
const OPTIONS = { ops: quick ? 200_000 : 2_000_000, warmup: quick ? 2 : 5, rounds: quick ? 5 : 21 };

let sink = 0;

function tasks(): Record<string, Task> {
  // A bucket that never runs dry, and one that is nearly always dry (one token a second).
  const open = createRegulator({ rate: 1e12, burst: 1e12, max: 1e12 });
  const dry = createRegulator({ rate: 1, burst: 1 });
  dry.tryTake();
  const fed = createRegulator({ rate: 1000, burst: 1000 });
  const logicOnly = createRegulator({ rate: 1e12, burst: 1e12, max: 1e12, clock: new VirtualClock() });
  return {
    'empty loop': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += i & 1;
      sink += s;
    },
    'systemClock.now()': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) s += systemClock.now();
      sink += s;
    },
    'tryTake (granted)': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) if (open.tryTake()) s++;
      sink += s;
    },
    'tryTake (refused)': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) if (!dry.tryTake()) s++;
      sink += s;
    },
    'tryTake (granted, virtual clock)': async (ops) => {
      let s = 0;
      for (let i = 0; i < ops; i++) if (logicOnly.tryTake()) s++;
      sink += s;
    },
    'record(success, rtt)': async (ops) => {
      for (let i = 0; i < ops; i++) fed.record('success', 20);
      sink += 1;
    },
  };
}

console.log(`sluice regulator benchmark — ${process.version}, ${quick ? 'quick' : 'full'} run`);
const results = await compare(tasks(), OPTIONS);
const empty = results.get('empty loop')!.median;
table(
  `regulator hot path (${OPTIONS.ops} ops × ${OPTIONS.rounds} rounds)`,
  ['operation', 'ns/op', 'min', 'spread', 'less empty loop'],
  [...results].map(([name, s]) => [
    name,
    fixed(s.median, 2),
    fixed(s.min, 2),
    `±${fixed(s.spread * 50, 0)}%`,
    fixed(s.median - empty, 2),
  ]),
);
if (!(sink > 0)) throw new Error('no work was done');
writeJson(new URL('./results/regulator.json', import.meta.url), {
  environment: environment(),
  settings: OPTIONS,
  unit: 'ns/op',
  results: Object.fromEntries(
    [...results].map(([name, s]) => [name, { median: s.median, min: s.min, spread: s.spread }]),
  ),
});
console.log('\nwrote benchmarks/results/regulator.json');
