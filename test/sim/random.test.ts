import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { distribution, Random } from '../../src/sim/random.ts';
import { within } from './helpers.ts';

function draws(n: number, f: () => number): number[] {
  return Array.from({ length: n }, f);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

describe('Random', () => {
  it('gives the same sequence for the same seed and stream, and different ones otherwise', () => {
    const a = new Random(7, 'arrivals');
    const b = new Random(7, 'arrivals');
    const seqA = draws(100, () => a.uint32());
    assert.deepEqual(
      draws(100, () => b.uint32()),
      seqA,
    );
    assert.notDeepEqual(
      draws(100, () => new Random(8, 'arrivals').uint32()),
      seqA,
    );
    const c = new Random(7, 'service');
    assert.notDeepEqual(
      draws(100, () => c.uint32()),
      seqA,
    );
    assert.notDeepEqual(
      draws(10, () => new Random('7', 'arrivals').uint32()),
      seqA.slice(0, 10),
    );
  });

  it('draws doubles in [0, 1) whose mean and spread are those of a uniform', () => {
    const r = new Random(1);
    const xs = draws(200_000, () => r.next());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    within(mean(xs), 0.5, 0.005);
    within(quantile(xs, 0.1), 0.1, 0.005);
    within(quantile(xs, 0.9), 0.9, 0.005);
  });

  it('draws integers in [0, n) (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
        const r = new Random(seed);
        for (let i = 0; i < 50; i++) {
          const k = r.int(n);
          if (!Number.isInteger(k) || k < 0 || k >= n) return false;
        }
        return true;
      }),
    );
  });

  it('draws standard normals with mean 0 and sd 1', () => {
    const r = new Random(3);
    const xs = draws(200_000, () => r.normal());
    within(mean(xs), 0, 0.01);
    within(Math.sqrt(mean(xs.map((x) => x * x))), 1, 0.01);
  });
});

describe('distribution', () => {
  const sample = (spec: unknown, n = 200_000, seed = 11): number[] => {
    const d = distribution(spec, 'service');
    const r = new Random(seed);
    return draws(n, () => d.sample(r));
  };

  it('takes a bare number as a constant', () => {
    assert.deepEqual(sample(5, 3), [5, 5, 5]);
    assert.equal(distribution({ type: 'constant', value: 2 }, 's').mean, 2);
  });

  it('draws exponentials with the given mean (and median mean * ln 2)', () => {
    const xs = sample({ type: 'exponential', mean: 10 });
    within(mean(xs), 10, 0.1);
    within(quantile(xs, 0.5), 10 * Math.LN2, 0.1);
  });

  it('draws a lognormal given by its median and p99', () => {
    const xs = sample({ type: 'lognormal', median: 20, p99: 200 });
    within(quantile(xs, 0.5), 20, 0.3);
    within(quantile(xs, 0.99), 200, 8);
  });

  it('gives a lognormal given by mean and sigma that mean', () => {
    const d = distribution({ type: 'lognormal', mean: 50, sigma: 0.5 }, 's');
    assert.ok(Math.abs(d.mean - 50) < 1e-9);
    within(mean(sample({ type: 'lognormal', mean: 50, sigma: 0.5 })), 50, 0.5);
  });

  it('draws a Pareto whose minimum is its scale and whose mean is shape*scale/(shape-1)', () => {
    const xs = sample({ type: 'pareto', scale: 2, shape: 3 });
    assert.ok(xs.every((x) => x >= 2));
    within(mean(xs), 3, 0.05);
  });

  it('draws uniform and clamped normal values in range', () => {
    const u = sample({ type: 'uniform', min: 5, max: 15 }, 50_000);
    assert.ok(u.every((x) => x >= 5 && x < 15));
    within(mean(u), 10, 0.1);
    const n = sample({ type: 'normal', mean: 1, sd: 2 }, 50_000);
    assert.ok(n.every((x) => x >= 0));
  });

  it('replays empirical values, raw or interpolated', () => {
    const raw = sample({ type: 'empirical', values: [1, 2, 10] }, 30_000);
    assert.deepEqual(
      [...new Set(raw)].sort((a, b) => a - b),
      [1, 2, 10],
    );
    within(mean(raw), 13 / 3, 0.1);
    const smooth = sample({ type: 'empirical', values: [0, 10], interpolate: true }, 50_000);
    within(mean(smooth), 5, 0.1);
    assert.ok(smooth.some((x) => x > 0 && x < 10 && x !== 5));
  });

  it('interpolates between given quantiles', () => {
    const spec = { type: 'empirical', quantiles: { 0: 0, 50: 10, 90: 20, 100: 100 } };
    const xs = sample(spec);
    within(quantile(xs, 0.5), 10, 0.2);
    within(quantile(xs, 0.9), 20, 0.3);
    within(quantile(xs, 0.25), 5, 0.2);
    assert.ok(xs.every((x) => x >= 0 && x <= 100));
    within(distribution(spec, 's').mean, mean(xs), 0.3);
  });

  it('rejects bad specs with a ConfigError naming the path', () => {
    const bad: [unknown, string][] = [
      [-1, 'service'],
      [{ type: 'gamma' }, 'service.type'],
      [{ type: 'exponential', mean: 0 }, 'service.mean'],
      [{ type: 'exponential', mean: 1, median: 2 }, 'service.median'],
      [{ type: 'lognormal', median: 10 }, 'service'],
      [{ type: 'lognormal', median: 10, p99: 5 }, 'service.p99'],
      [{ type: 'empirical', values: [] }, 'service.values'],
      [{ type: 'empirical', values: [1, 'x'] }, 'service.values[1]'],
      [{ type: 'empirical', quantiles: { 50: 10, 90: 5 } }, 'service.quantiles'],
      [{ type: 'empirical', quantiles: { 150: 10, 90: 5 } }, 'service.quantiles'],
    ];
    for (const [spec, option] of bad) {
      assert.throws(
        () => distribution(spec, 'service'),
        (e: unknown) => isConfigError(e) && e.option === option,
        JSON.stringify(spec),
      );
    }
  });
});
