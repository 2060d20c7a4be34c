import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { defaultLimit } from '../../src/limiter/limiter.ts';
import { Client, Server, Trace } from '../helpers/downstream.ts';

/**
 * The overload benchmark's downstream, on the virtual clock: a lognormal service time with a 40 ms median
 * and a 120 ms p99 (a spread of 0.47), 8 slots, then 3, then 10, 10 s each, under far more callers than
 * slots. The default limit decides from windowed medians of about ten requests, which vary by 15-20% from
 * window to window at these rates: the noise the limit must not read as signal.
 */
const PHASE_MS = 10_000;
const SLOTS = [8, 3, 10] as const;
const SEEDS = 10;

interface Run {
  /** Share of the time (from 3 s into each phase) the limit held below the slots. */
  readonly below: number;
  /** Lowest limit while the downstream had 3 slots (from 3 s in). */
  readonly lowestAtThree: number;
  /** Time from the growth to 10 slots until the limit first reached 10 (ms). */
  readonly reached: number;
}

function run(seed: number): Run {
  const clock = new VirtualClock();
  const limit = defaultLimit();
  const server = new Server(clock, { capacity: SLOTS[0], serviceMs: 40, sigma: 0.47, seed });
  const client = new Client(clock, server, { limit, seed });
  const trace = new Trace(clock, limit);
  client.closedLoop(100);
  let below = 0;
  let points = 0;
  let lowestAtThree = Number.POSITIVE_INFINITY;
  SLOTS.forEach((slots, i) => {
    server.capacity = slots;
    trace.run(PHASE_MS);
    const settled = trace.between(i * PHASE_MS + 3000, (i + 1) * PHASE_MS, true);
    below += settled.filter((p) => p.limit < slots).length;
    points += settled.length;
    if (slots === 3) lowestAtThree = Math.min(...settled.map((p) => p.limit));
  });
  const growth = 2 * PHASE_MS;
  const reached = trace.points.find((p) => p.t >= growth && p.limit >= 10);
  return {
    below: below / points,
    lowestAtThree,
    reached: reached === undefined ? Number.POSITIVE_INFINITY : reached.t - growth,
  };
}

describe('the default limit under a noisy downstream', () => {
  let runs: Run[] = [];
  before(() => {
    runs = Array.from({ length: SEEDS }, (_, i) => run(i + 1));
  });

  it('holds at or above the capacity, probes included, nearly all the time', (t) => {
    const below = runs.reduce((sum, r) => sum + r.below, 0) / runs.length;
    t.diagnostic(`below the slots ${(below * 100).toFixed(1)}% of the time`);
    // Probes read noise as queueing, stepped the limit down and lowered the baseline: 8.8% before.
    assert.ok(below <= 0.05, `below the slots ${(below * 100).toFixed(1)}% of the time`);
  });

  it('never falls to a limit of one while the downstream has three slots', () => {
    for (const [i, r] of runs.entries()) {
      assert.ok(r.lowestAtThree >= 2, `seed ${i + 1}: lowest limit ${r.lowestAtThree}`);
    }
  });

  it('follows the capacity up within 1.5 s when it more than triples', (t) => {
    const times = runs.map((r) => r.reached).sort((a, b) => a - b);
    t.diagnostic(`reached 10 after ${times.join(', ')} ms`);
    // Slow start resumes after four rounds in a row at the no-load latency; judged round by round against
    // a noisy baseline such runs were rare, and the limit crept up by its queue allowance (up to 2.4 s).
    assert.ok(times.at(-1)! <= 1500, `slowest ${times.at(-1)} ms`);
    assert.ok(
      times[Math.floor(times.length / 2)]! <= 1000,
      `median ${times[Math.floor(times.length / 2)]} ms`,
    );
  });
});
