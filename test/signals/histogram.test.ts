import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BUCKETS,
  bucketOf,
  HIGHEST_MS,
  LatencyHistogram,
  LOWEST_MS,
  RELATIVE_ERROR,
} from '../../src/signals/histogram.ts';
import { exactPercentile, latency, quantile } from './helpers.ts';

describe('log-linear buckets', () => {
  it('are monotone in the value and cover the range with 1024 buckets', () => {
    assert.equal(BUCKETS, 1024);
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(LOWEST_MS / 2), 0);
    assert.equal(bucketOf(LOWEST_MS), 0);
    assert.equal(bucketOf(HIGHEST_MS), BUCKETS - 1);
    assert.equal(bucketOf(Number.MAX_VALUE), BUCKETS - 1);
    fc.assert(
      fc.property(latency, latency, (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(bucketOf(lo) <= bucketOf(hi));
      }),
    );
  });

  it('start a new octave exactly at each power of two', () => {
    for (let e = -10; e < 22; e++) {
      const b = bucketOf(2 ** e);
      assert.equal(b % 32, 0, `2^${e}`);
      assert.equal(bucketOf(2 ** e * (1 - 2 ** -40)), Math.max(b - 1, 0), `just below 2^${e}`);
    }
  });
});

describe('LatencyHistogram', () => {
  it('reports percentiles within 1/64 of the exact nearest-rank value (property)', () => {
    assert.equal(RELATIVE_ERROR, 1 / 64);
    fc.assert(
      fc.property(fc.array(latency, { minLength: 1, maxLength: 300 }), quantile, (values, q) => {
        const h = new LatencyHistogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = exactPercentile(sorted, q);
        const got = h.percentile(q);
        assert.ok(
          Math.abs(got - exact) <= RELATIVE_ERROR * exact * (1 + 1e-12),
          `q=${q}: ${got} vs ${exact}`,
        );
      }),
    );
  });

  it('gives the exact min and max for q 0 and 1, and NaN when empty', () => {
    const h = new LatencyHistogram();
    assert.ok(Number.isNaN(h.percentile(0.5)));
    for (const v of [3.3, 0.25, 1234.5]) h.record(v);
    assert.equal(h.percentile(0), 0.25);
    assert.equal(h.percentile(1), 1234.5);
  });

  it('records a sample standing for several requests as that many equal ones', () => {
    const weighted = new LatencyHistogram();
    const repeated = new LatencyHistogram();
    for (const [ms, times] of [
      [2, 8],
      [40, 1],
      [7.5, 3],
    ] as const) {
      weighted.record(ms, times);
      for (let i = 0; i < times; i++) repeated.record(ms);
    }
    assert.deepEqual(weighted.snapshot(), repeated.snapshot());
    assert.equal(weighted.count, 12);
  });

  it('summarises count, mean, min, max and p50/p90/p99', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.snapshot();
    assert.equal(s.count, 1000);
    assert.equal(s.mean, 500.5);
    assert.equal(s.min, 1);
    assert.equal(s.max, 1000);
    for (const [got, exact] of [
      [s.p50, 500],
      [s.p90, 900],
      [s.p99, 990],
    ] as const) {
      assert.ok(Math.abs(got - exact) <= exact * RELATIVE_ERROR, `${got} vs ${exact}`);
    }
  });

  it('clamps values outside its range to the observed min and max', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(0);
    assert.equal(h.percentile(0.5), 0);
    const big = new LatencyHistogram();
    big.record(HIGHEST_MS * 4);
    assert.equal(big.percentile(0.5), HIGHEST_MS * 4);
  });

  it('ignores NaN, negative and infinite latencies', () => {
    const h = new LatencyHistogram();
    h.record(Number.NaN);
    h.record(-1);
    h.record(Number.POSITIVE_INFINITY);
    assert.equal(h.count, 0);
  });

  it('rejects a quantile outside [0, 1] with a RangeError', () => {
    const h = new LatencyHistogram();
    assert.throws(() => h.percentile(1.5), RangeError);
    assert.throws(() => h.percentile(Number.NaN), RangeError);
    assert.throws(() => h.percentile(-0.1), RangeError);
  });

  it('forgets everything on reset', () => {
    const h = new LatencyHistogram();
    h.record(5);
    h.reset();
    assert.equal(h.count, 0);
    assert.equal(h.snapshot().count, 0);
    assert.ok(Number.isNaN(h.snapshot().mean));
  });
});
