import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { aimd, fixedLimit, gradient2, type Limit, vegas, windowed } from '../../src/limits/index.ts';

const algorithms: Record<string, (min: number, max: number) => Limit> = {
  fixed: (min) => fixedLimit(min),
  aimd: (min, max) => aimd({ min, max, initial: min, timeout: 200 }),
  vegas: (min, max) => vegas({ min, max, initial: min, probeInterval: 500 }),
  gradient2: (min, max) => gradient2({ min, max, initial: max, probeInterval: 500 }),
  'windowed(vegas)': (min, max) => windowed(vegas({ min, max, initial: min }), { window: 20, minSamples: 2 }),
  'windowed(gradient2)': (min, max) =>
    windowed(gradient2({ min, max, initial: min }), { window: 20, minSamples: 2, percentile: 0.9 }),
};

const step = fc.record({
  dt: fc.double({ min: 0, max: 100, noNaN: true }),
  rtt: fc.oneof(
    fc.double({ min: 0.1, max: 500, noNaN: true }),
    fc.constantFrom(0, -1, Number.NaN, Number.POSITIVE_INFINITY),
  ),
  inflight: fc.integer({ min: 1, max: 2000 }),
  dropped: fc.boolean(),
});

describe('every limit algorithm', () => {
  for (const [name, make] of Object.entries(algorithms)) {
    it(`${name}: keeps the limit an integer in [min, max] and reports every change, whatever the samples`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 0, max: 500 }),
          fc.array(step, { maxLength: 300 }),
          (min, span, steps) => {
            const max = min + span;
            const limit = make(min, name === 'fixed' ? min : max);
            const upper = name === 'fixed' ? min : max;
            let last = limit.current;
            limit.onChange((change) => {
              assert.equal(change.previous, last);
              assert.notEqual(change.limit, change.previous);
              last = change.limit;
            });
            let now = 0;
            for (const s of steps) {
              now += s.dt;
              const result = limit.update({ now, rtt: s.rtt, inflight: s.inflight, dropped: s.dropped });
              assert.equal(result, limit.current);
              assert.equal(last, limit.current);
              assert.ok(Number.isInteger(limit.current), `${limit.current} is not an integer`);
              assert.ok(
                limit.current >= min && limit.current <= upper,
                `${limit.current} outside [${min}, ${upper}]`,
              );
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
