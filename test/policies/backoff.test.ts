import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import type { Backoff, RandomSource } from '../../src/policies/backoff/backoff.ts';
import { seededRandom } from '../../src/policies/backoff/backoff.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { decorrelatedJitterBackoff } from '../../src/policies/backoff/decorrelated-jitter.ts';
import { exponentialBackoff } from '../../src/policies/backoff/exponential.ts';
import { fullJitterBackoff } from '../../src/policies/backoff/full-jitter.ts';

/** A random source that returns the given values in turn. */
function sequence(...values: number[]): RandomSource {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** The first `n` delays of a backoff, feeding each back as `previous`. */
function delays(backoff: Backoff, n: number, random: RandomSource = Math.random): number[] {
  const out: number[] = [];
  let previous = 0;
  for (let retry = 1; retry <= n; retry++) {
    previous = backoff.delay(retry, previous, random);
    out.push(previous);
  }
  return out;
}

describe('backoff: constant', () => {
  it('waits the same delay before every retry', () => {
    assert.deepEqual(delays(constantBackoff({ delay: 250 }), 4), [250, 250, 250, 250]);
  });

  it('defaults to one second', () => {
    assert.deepEqual(delays(constantBackoff(), 2), [1000, 1000]);
  });
});

describe('backoff: exponential', () => {
  it('multiplies the delay by the factor per retry and caps it at max', () => {
    const backoff = exponentialBackoff({ base: 100, factor: 2, max: 1000 });
    assert.deepEqual(delays(backoff, 6), [100, 200, 400, 800, 1000, 1000]);
  });

  it('stays at max rather than overflowing after many retries', () => {
    assert.equal(exponentialBackoff({ max: 5000 }).delay(5000, 0, Math.random), 5000);
  });

  it('defaults to 100 ms doubling up to 10 s', () => {
    assert.deepEqual(delays(exponentialBackoff(), 8), [100, 200, 400, 800, 1600, 3200, 6400, 10_000]);
  });
});

describe('backoff: full jitter', () => {
  it('scales the exponential ceiling by the random draw', () => {
    const backoff = fullJitterBackoff({ base: 100, max: 1000 });
    assert.deepEqual(delays(backoff, 5, sequence(0.5, 0, 0.25, 0.999, 0.5)), [50, 0, 100, 799.2, 500]);
  });

  it('stays within [0, ceiling) for any draw', () => {
    const backoff = fullJitterBackoff({ base: 10, max: 700 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, r) => {
          const d = backoff.delay(retry, 0, () => r);
          return d >= 0 && d <= Math.min(700, 10 * 2 ** (retry - 1));
        },
      ),
    );
  });
});

describe('backoff: decorrelated jitter', () => {
  it('draws each delay between base and three times the previous, capped at max', () => {
    const backoff = decorrelatedJitterBackoff({ base: 100, max: 1000 });
    // [100, 300) -> 200; [100, 600) -> 600 * 0.5 ...: base + r * (3 * previous - base)
    assert.deepEqual(delays(backoff, 5, sequence(0.5, 0.5, 0, 1, 0.5)), [200, 350, 100, 300, 500]);
    assert.equal(
      backoff.delay(9, 900, () => 0.9),
      1000,
    );
  });

  it('never waits less than base nor more than max', () => {
    const backoff = decorrelatedJitterBackoff({ base: 50, max: 2000 });
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 30 }),
        (draws) => {
          return delays(backoff, draws.length, sequence(...draws, 0.5)).every((d) => d >= 50 && d <= 2000);
        },
      ),
    );
  });
});

describe('backoff: seeded random', () => {
  it('repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, a);
    assert.deepEqual(xs, Array.from({ length: 1000 }, b));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, seededRandom(43)));
  });

  it('makes a jittered sequence exact', () => {
    const backoff = fullJitterBackoff({ base: 100, max: 10_000 });
    assert.deepEqual(delays(backoff, 6, seededRandom(7)), delays(backoff, 6, seededRandom(7)));
  });
});

describe('backoff: options', () => {
  it('rejects a negative base, a factor below 1 and a max below base', () => {
    assert.throws(() => exponentialBackoff({ base: -1 }), isConfigError);
    assert.throws(() => exponentialBackoff({ factor: 0.5 }), isConfigError);
    assert.throws(() => fullJitterBackoff({ base: 500, max: 100 }), isConfigError);
    assert.throws(() => decorrelatedJitterBackoff({ base: 500, max: 100 }), isConfigError);
    assert.throws(() => constantBackoff({ delay: Number.NaN }), /backoff\.delay/);
  });
});
