import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distribution, type Scenario, simulate } from '../../src/sim/index.ts';

// The simulated twin of `npm run bench:overload`: a thread-pool downstream (lognormal service, median 40 ms,
// p99 120 ms; a FIFO queue of 100) whose slots go 8 -> 3 -> 10, offered 1.3x its starting capacity by
// Poisson arrivals that give up after 1 s, behind the limiter as the server protection configures it.
const SERVICE = { type: 'lognormal', median: 40, p99: 120 } as const;
const MEAN = distribution(SERVICE, 'service').mean;
const capacity = (slots: number): number => (slots * 1000) / MEAN;
const RATE = 1.3 * capacity(8);
const SLO = 300;
/** Twice the downstream's own p99: the bound the issue sets on admitted requests. */
const P99_BOUND = 2 * 120;
const DROP = { from: 12_000, to: 21_000, slots: 3 };
const SEEDS = 40;

function twin(seed: number): Scenario {
  return {
    name: 'overload-twin',
    seed,
    duration: 30_000,
    warmup: 0,
    record: true,
    workload: { type: 'poisson', rate: RATE, timeout: 1_000 },
    downstream: {
      service: SERVICE,
      concurrency: 8,
      queue: 100,
      timeout: 1_000,
      schedule: [
        { at: DROP.from, concurrency: DROP.slots },
        { at: DROP.to, concurrency: 10 },
      ],
    },
    policy: { type: 'limiter', queue: { size: 128, timeout: 1_000 } },
  };
}

describe('the overload benchmark in simulation: the phase after the capacity drop', () => {
  it('keeps goodput and the p99 of admitted requests within the targets in most of 40 seeds', async () => {
    let goodputMet = 0;
    let p99Met = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { records } = await simulate(twin(seed));
      const phase = records!.filter((r) => r.arrivedAt >= DROP.from && r.arrivedAt < DROP.to);
      const successes = phase.filter((r) => r.answer === 'success').map((r) => r.latency);
      const reference = (Math.min(capacity(DROP.slots), RATE) * (DROP.to - DROP.from)) / 1000;
      if (successes.filter((l) => l <= SLO).length / reference >= 0.95) goodputMet++;
      successes.sort((a, b) => a - b);
      if (successes[Math.floor(0.99 * (successes.length - 1))]! <= P99_BOUND) p99Met++;
    }
    // With the queue's automatic interval at five targets rather than two, the gateway held requests
    // 300-700 ms after the drop: goodput met in 22 of 40 seeds, the p99 bound in 17 (now 34 and 29).
    assert.ok(goodputMet >= 30, `goodput >= 95% of capacity in ${goodputMet} of ${SEEDS} seeds`);
    assert.ok(p99Met >= 25, `p99 <= ${P99_BOUND} ms in ${p99Met} of ${SEEDS} seeds`);
  });
});
