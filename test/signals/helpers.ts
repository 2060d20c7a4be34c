import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HIGHEST_MS, LOWEST_MS } from '../../src/signals/histogram.ts';

/** Asserts |actual - expected| <= epsilon, relative to |expected| when that is above 1. */
export function close(actual: number, expected: number, epsilon = 1e-9, message?: string): void {
  const ok = Math.abs(actual - expected) <= epsilon * Math.max(1, Math.abs(expected));
  assert.ok(ok, `${message ?? ''} ${actual} is not within ${epsilon} of ${expected}`.trim());
}

/** Exact nearest-rank percentile of sorted values: the smallest with at least q of them at or below it. */
export function exactPercentile(sorted: readonly number[], q: number): number {
  if (q <= 0) return sorted[0]!;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** Latencies spread evenly on a log scale over the histogram's range. */
export const latency = fc
  .double({ min: Math.log2(LOWEST_MS), max: Math.log2(HIGHEST_MS) - 1e-9, noNaN: true })
  .map((e) => 2 ** e);

/** Quantiles, weighted towards the ones people ask for. */
export const quantile = fc.oneof(
  fc.constantFrom(0, 0.5, 0.9, 0.99, 0.999, 1),
  fc.double({ min: 0, max: 1, noNaN: true }),
);

/** A deterministic uniform [0, 1) generator (mulberry32), so noisy tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
