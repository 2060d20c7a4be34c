import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { RELATIVE_ERROR } from '../../src/signals/histogram.ts';
import { LatencyWindow } from '../../src/signals/latency-window.ts';
import { exactPercentile, latency, quantile, seeded } from './helpers.ts';

function within(got: number, exact: number, message = ''): void {
  assert.ok(
    Math.abs(got - exact) <= RELATIVE_ERROR * exact * (1 + 1e-12),
    `${message} ${got} vs exact ${exact}`,
  );
}

describe('LatencyWindow', () => {
  it('reports percentiles within 1/64 of the exact nearest-rank value (property)', () => {
    fc.assert(
      fc.property(fc.array(latency, { minLength: 1, maxLength: 300 }), quantile, (values, q) => {
        const w = new LatencyWindow();
        for (const v of values) w.record(v, 0);
        within(
          w.percentile(q, 0),
          exactPercentile(
            [...values].sort((a, b) => a - b),
            q,
          ),
          `q=${q}`,
        );
      }),
    );
  });

  it('tracks a known exponential distribution over a steady stream', () => {
    const w = new LatencyWindow({ window: 10_000, slots: 10 });
    const random = seeded(7);
    const all: number[] = [];
    for (let t = 0; t < 10_000; t += 1) {
      const ms = -20 * Math.log(1 - random()); // mean 20 ms
      w.record(ms, t);
      all.push(ms);
    }
    const s = w.snapshot(9_999);
    assert.equal(s.count, 10_000);
    all.sort((a, b) => a - b);
    within(s.p50, exactPercentile(all, 0.5));
    within(s.p90, exactPercentile(all, 0.9));
    within(s.p99, exactPercentile(all, 0.99));
    // And the distribution is the one generated: p50 = 20 ln 2, p99 = 20 ln 100 (sampling error aside).
    assert.ok(Math.abs(s.p50 - 20 * Math.LN2) < 1, `p50 ${s.p50}`);
    assert.ok(Math.abs(s.p99 - 20 * Math.log(100)) < 8, `p99 ${s.p99}`);
    assert.ok(Math.abs(s.mean - 20) < 1, `mean ${s.mean}`);
  });

  it('drops samples a slot at a time as they leave the window', () => {
    const w = new LatencyWindow({ window: 1000, slots: 10 });
    w.record(500, 0);
    w.record(1, 150);
    w.record(2, 950);
    assert.equal(w.count(999), 3);
    assert.equal(w.percentile(1, 999), 500);
    // At 1000 the slot [0, 100) leaves: the 500 ms sample is gone, with the max.
    assert.equal(w.count(1000), 2);
    assert.equal(w.percentile(1, 1000), 2);
    assert.equal(w.snapshot(1000).max, 2);
    assert.equal(w.count(1199), 1);
    assert.equal(w.count(2049), 0);
    assert.ok(Number.isNaN(w.percentile(0.5, 2049)));
  });

  it('empties after a gap longer than the window', () => {
    const w = new LatencyWindow({ window: 1000, slots: 4 });
    for (let t = 0; t < 1000; t += 10) w.record(t, t);
    w.record(7, 50_000);
    const s = w.snapshot(50_000);
    assert.equal(s.count, 1);
    assert.equal(s.min, 7);
    assert.equal(s.p50, 7);
  });

  it('matches the exact percentiles of the samples still in the window as time moves (property)', () => {
    // Mostly within two octaves, so that expired counts left behind in a shared bucket would show.
    const ms = fc.oneof(
      { arbitrary: fc.integer({ min: 1000, max: 4000 }).map((n) => n / 100), weight: 4 },
      { arbitrary: latency, weight: 1 },
    );
    const op = fc.record({ dt: fc.integer({ min: 0, max: 150 }), ms });
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 200 }), quantile, (ops, q) => {
        const slotMs = 100;
        const slots = 10;
        const w = new LatencyWindow({ window: slotMs * slots, slots });
        const seen: { t: number; ms: number }[] = [];
        let t = 0;
        for (const { dt, ms } of ops) {
          t += dt;
          w.record(ms, t);
          seen.push({ t, ms });
          const epoch = Math.floor(t / slotMs);
          const live = seen
            .filter((s) => Math.floor(s.t / slotMs) > epoch - slots)
            .map((s) => s.ms)
            .sort((a, b) => a - b);
          assert.equal(w.count(t), live.length);
          within(w.percentile(q, t), exactPercentile(live, q), `q=${q} at ${t}`);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('summarises an empty window as count 0 and NaN elsewhere', () => {
    const s = new LatencyWindow().snapshot(0);
    assert.equal(s.count, 0);
    for (const v of [s.mean, s.min, s.max, s.p50, s.p90, s.p99]) assert.ok(Number.isNaN(v));
  });

  it('counts a sample stamped before the current slot in the current slot', () => {
    const w = new LatencyWindow({ window: 1000, slots: 10 });
    w.record(1, 550);
    w.record(2, 100);
    assert.equal(w.count(1499), 2);
    assert.equal(w.count(1500), 0);
  });

  it('ignores NaN, negative and infinite latencies', () => {
    const w = new LatencyWindow();
    w.record(Number.NaN, 0);
    w.record(-3, 0);
    w.record(Number.POSITIVE_INFINITY, 0);
    assert.equal(w.count(0), 0);
  });

  it('forgets everything on reset', () => {
    const w = new LatencyWindow();
    w.record(5, 0);
    w.reset();
    assert.equal(w.count(0), 0);
    w.record(6, 1);
    assert.equal(w.percentile(0.5, 1), 6);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ window: 0 }, 'window'],
      [{ window: -1 }, 'window'],
      [{ window: Number.NaN }, 'window'],
      [{ slots: 0 }, 'slots'],
      [{ slots: 2.5 }, 'slots'],
      [{ slots: 1001 }, 'slots'],
      ['10s', 'options'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new LatencyWindow(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });

  it('rejects a quantile outside [0, 1] with a RangeError', () => {
    assert.throws(() => new LatencyWindow().percentile(99, 0), RangeError);
  });
});
