import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { aimd } from '../../src/limits/aimd.ts';
import { select, windowed } from '../../src/limits/windowed.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { record, sample } from './helpers.ts';

describe('windowed', () => {
  it('sends one sample per window: the lowest latency, the mean in flight, and dropped if any dropped', () => {
    const inner = new ManualLimit(10);
    const limit = windowed(inner, { window: 100, minSamples: 3 });
    limit.update(sample(0, 30, 4));
    limit.update(sample(40, 12, 9));
    limit.update(sample(60, 500, 2, true));
    assert.equal(inner.samples.length, 0, 'the window is still open');
    limit.update(sample(100, 20, 5));
    assert.deepEqual(inner.samples, [sample(100, 12, 5, true)]);
    limit.update(sample(150, 8, 3));
    limit.update(sample(180, 9, 3));
    limit.update(sample(200, 10, 3));
    assert.deepEqual(inner.samples[1], sample(200, 8, 3, false));
  });

  it('sends the chosen percentile of the window latencies, leaving drops out of it', () => {
    const inner = new ManualLimit(10);
    const limit = windowed(inner, { window: 100, minSamples: 1, percentile: 0.5 });
    for (let i = 0; i < 9; i++) limit.update(sample(i * 10, i + 1, 1));
    limit.update(sample(95, 1000, 1, true));
    limit.update(sample(100, 10, 1));
    assert.deepEqual(inner.samples, [sample(100, 5, 1, true)]);
  });

  it('sends the drops latency when every request in the window dropped', () => {
    const inner = new ManualLimit(10);
    const limit = windowed(inner, { window: 100, minSamples: 1, percentile: 0.9 });
    limit.update(sample(0, 250, 1, true));
    limit.update(sample(100, 300, 1, true));
    assert.deepEqual(inner.samples, [sample(100, 300, 1, true)]);
  });

  it('keeps a window open until it holds minSamples, unless a request drops', () => {
    const inner = new ManualLimit(10);
    const limit = windowed(inner, { window: 100, minSamples: 5 });
    limit.update(sample(0, 10, 1));
    limit.update(sample(500, 10, 1));
    limit.update(sample(900, 10, 1));
    assert.equal(inner.samples.length, 0);
    limit.update(sample(1000, 30, 1, true));
    assert.equal(inner.samples.length, 1);
    assert.equal(inner.samples[0]!.dropped, true);
  });

  it('mirrors the wrapped limit: its value, bounds and change records', () => {
    const inner = aimd({ initial: 40, min: 5, max: 80 });
    const limit = windowed(inner, { window: 10, minSamples: 1 });
    const changes = record(limit);
    assert.deepEqual([limit.current, limit.min, limit.max, limit.name], [40, 5, 80, 'windowed(aimd)']);
    limit.update(sample(0, 5, 40, true));
    limit.update(sample(10, 5, 40));
    assert.equal(limit.current, 36);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.limit, c.rule]),
      [[40, 36, 'drop']],
    );
  });

  it('keeps at most maxSamples latencies, a uniform sample of the window', () => {
    const inner = new ManualLimit(10);
    const limit = windowed(inner, { window: 100, minSamples: 1, percentile: 0.5, maxSamples: 256 });
    // 10,000 latencies spread evenly over [0, 1000): the median of any uniform sample is near 500.
    for (let i = 0; i < 10_000; i++) limit.update(sample(i / 100, ((i * 7919) % 10_000) / 10, 1));
    limit.update(sample(100, 500, 1));
    const median = inner.samples[0]!.rtt;
    assert.ok(Math.abs(median - 500) < 100, `median ${median}`);
  });

  it('rejects bad options, naming the option', () => {
    const inner = new ManualLimit(10);
    const cases: [Record<string, unknown>, string][] = [
      [{ window: 0 }, 'windowed.window'],
      [{ window: Number.NaN }, 'windowed.window'],
      [{ minSamples: 0 }, 'windowed.minSamples'],
      [{ minSamples: 2.5 }, 'windowed.minSamples'],
      [{ percentile: 0 }, 'windowed.percentile'],
      [{ percentile: 1.1 }, 'windowed.percentile'],
      [{ maxSamples: 0 }, 'windowed.maxSamples'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => windowed(inner, options),
        (e) => isConfigError(e) && e.option === option,
        JSON.stringify(options),
      );
    }
    assert.throws(
      () => windowed({} as never),
      (e) => isConfigError(e) && e.option === 'windowed.limit',
    );
  });
});

describe('select', () => {
  it('finds the k-th smallest as a sort would, for any values (duplicates and runs included)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 1e4, noNaN: true })), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.nat(),
        (values, at) => {
          const k = at % values.length;
          const sorted = Float64Array.from(values).sort();
          const work = Float64Array.from(values);
          assert.equal(select(work, values.length, k), sorted[k]);
          // Reordered, not changed: the same multiset remains.
          assert.deepEqual(work.sort(), sorted);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('looks only at the first n values', () => {
    const values = Float64Array.from([5, 1, 4, 0, 0, 0]);
    assert.equal(select(values, 3, 0), 1);
    assert.equal(select(values, 3, 2), 5);
  });
});
