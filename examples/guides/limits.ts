// docs/guides/limits.md, runnable: sh scripts/use-node.sh node examples/guides/limits.ts
//
// A limit algorithm is a pure function of the samples it is fed: no timers, no queue, no HTTP. This file
// feeds each algorithm the samples a caller would see from a downstream whose capacity changes, and
// prints where the limit settles. The same property lets you watch an algorithm without letting it
// enforce anything (see "observe only" at the end).

import {
  aimd,
  BaseLimit,
  createLimiter,
  defaultLimit,
  fixedLimit,
  gradient2,
  type Limit,
  type LimitSample,
  vegas,
  windowed,
} from '../../src/index.ts';

/**
 * A downstream with `capacity` slots and a 10 ms service time, called by a client that keeps the limit's
 * worth of requests in flight: beyond the capacity, the excess queues and latency grows in proportion
 * (Little's law). Returns the limit's values over the run.
 */
function drive(limit: Limit, phases: readonly { capacity: number; ms: number }[]): number[] {
  const service = 10;
  let now = 0;
  const seen: number[] = [];
  for (const { capacity, ms } of phases) {
    const end = now + ms;
    while (now < end) {
      const inflight = limit.current;
      const rtt = service * Math.max(1, inflight / capacity);
      now += rtt / inflight; // completions of `inflight` requests of `rtt` each arrive this far apart
      limit.update({ now, rtt, inflight, dropped: false });
    }
    seen.push(limit.current);
  }
  return seen;
}

const phases = [
  { capacity: 100, ms: 20_000 },
  { capacity: 50, ms: 20_000 },
  { capacity: 100, ms: 20_000 },
];

const algorithms: Record<string, Limit> = {
  'gradient2()': gradient2(),
  'vegas()': vegas(),
  'windowed(gradient2(), { percentile: 0.5 }) (the default)': defaultLimit(),
  // AIMD learns only from drops; `timeout` turns a request slower than it into one.
  'aimd({ timeout: 15 })': aimd({ timeout: 15 }),
};
for (const [name, limit] of Object.entries(algorithms)) {
  console.log(`${name.padEnd(58)} capacity 100 / 50 / 100 -> limit ${drive(limit, phases).join(' / ')}`);
}

// Why each change happened: every change names its rule and the signals behind it.
const traced = gradient2({ initial: 10, max: 200 });
traced.onChange((c) => {
  if (c.rule !== 'gradient')
    console.log(`  ${c.previous} -> ${c.limit} by ${c.rule} ${JSON.stringify(roundAll(c.signals))}`);
});
drive(traced, [{ capacity: 40, ms: 3_000 }]);

// Options: bounds on every algorithm, and each one's own knobs (the defaults suit most services).
const tuned = createLimiter({
  limit: windowed(vegas({ initial: 10, min: 2, max: 200, probeInterval: 30_000 }), {
    window: 250,
    minSamples: 20,
    percentile: 0.9,
  }),
});
const fixed = createLimiter({ limit: fixedLimit(8) }); // the same as `limit: 8`
console.log(`tuned starts at ${tuned.limit}, fixed at ${fixed.limit}`);

// Observe only: feed an algorithm from your own timing and log what it would do, enforcing nothing.
const candidate = defaultLimit();
candidate.onChange((c) => {
  if (c.limit !== c.previous) observed = c.limit;
});
let observed = candidate.current;
function onRequestDone(startedAt: number, endedAt: number, inflightAtStart: number, overloaded: boolean) {
  candidate.update({
    now: endedAt,
    rtt: endedAt - startedAt,
    inflight: inflightAtStart,
    dropped: overloaded,
  });
}
for (let i = 0; i < 2_000; i++) onRequestDone(i, i + 12, 15, false);
console.log(`observe only: the candidate limit would be ${observed} (nothing was refused)`);

// Your own algorithm: one small class over BaseLimit, which clamps and notifies only on change.
class HalfOnDrop extends BaseLimit {
  readonly name = 'half-on-drop';
  constructor() {
    super('halfOnDrop', {}, { initial: 20, min: 1, max: 200 });
  }
  update(sample: LimitSample): number {
    return sample.dropped ? this.set(Math.floor(this.current / 2), 'drop') : this.current; // an integer
  }
}
const own = new HalfOnDrop();
own.update({ now: 1, rtt: 5, inflight: 20, dropped: true });
console.log(`half-on-drop: ${own.current}`);

function roundAll(signals: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(signals).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}
