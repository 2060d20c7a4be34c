import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { TrendGauge } from '../../src/signals/trend.ts';
import { close, seeded } from './helpers.ts';

describe('TrendGauge', () => {
  it('tracks a linear ramp exactly, whatever the sampling times (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1000, max: 1000, noNaN: true }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 2, maxLength: 50 }),
        (start, perSecond, gaps) => {
          const g = new TrendGauge();
          const ramp = (t: number): number => start + (perSecond * t) / 1000;
          let t = 0;
          g.update(ramp(t), t);
          for (const gap of gaps) {
            t += gap;
            g.update(ramp(t), t);
          }
          close(g.slope, perSecond, 1e-6);
          close(g.level, ramp(t), 1e-6);
          close(g.forecast(5000), ramp(t + 5000), 1e-6);
        },
      ),
    );
  });

  it('estimates the slope of a noisy ramp sampled at irregular times', () => {
    for (const seed of [1, 2, 3, 4]) {
      const g = new TrendGauge();
      const random = seeded(seed);
      let t = 0;
      while (t < 60_000) {
        t += 50 + random() * 200;
        g.update(100 + (5 * t) / 1000 + (random() - 0.5) * 20, t); // 5 units/s, noise ±10
      }
      assert.ok(Math.abs(g.slope - 5) < 0.5, `seed ${seed}: slope ${g.slope}`);
      assert.ok(Math.abs(g.level - (100 + (5 * t) / 1000)) < 4, `seed ${seed}: level ${g.level}`);
    }
  });

  it('lets the slope decay to 0 once a ramp levels off', () => {
    const g = new TrendGauge({ levelHalfLife: 1000, trendHalfLife: 2000 });
    let t = 0;
    for (; t <= 10_000; t += 100) g.update(t / 100, t); // +10/s up to 100
    assert.ok(Math.abs(g.slope - 10) < 1e-9);
    for (; t <= 40_000; t += 100) g.update(100, t);
    assert.ok(Math.abs(g.slope) < 0.1, `slope ${g.slope}`);
    assert.ok(Math.abs(g.level - 100) < 0.5, `level ${g.level}`);
  });

  it('knows the level after one reading and the slope only after readings at two times', () => {
    const g = new TrendGauge();
    assert.ok(Number.isNaN(g.level));
    assert.ok(Number.isNaN(g.forecast(1000)));
    g.update(10, 0);
    g.update(20, 0); // same timestamp: averaged
    assert.equal(g.level, 15);
    assert.ok(Number.isNaN(g.slope));
    assert.equal(g.forecast(1000), 15);
    g.update(25, 1000);
    assert.equal(g.slope, 10);
    assert.equal(g.samples, 3);
    assert.equal(g.lastAt, 1000);
  });

  it('counts a reading older than the last at the last timestamp, and ignores non-finite readings', () => {
    const g = new TrendGauge();
    g.update(0, 0);
    g.update(10, 1000);
    g.update(20, 500);
    assert.equal(g.level, 15);
    g.update(Number.NaN, 2000);
    assert.equal(g.samples, 3);
    assert.equal(g.lastAt, 1000);
  });

  it('forgets everything on reset', () => {
    const g = new TrendGauge();
    g.update(1, 0);
    g.update(2, 10);
    g.reset();
    assert.ok(Number.isNaN(g.level));
    assert.ok(Number.isNaN(g.slope));
    assert.equal(g.samples, 0);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ levelHalfLife: 0 }, 'levelHalfLife'],
      [{ levelHalfLife: Number.NaN }, 'levelHalfLife'],
      [{ trendHalfLife: -5 }, 'trendHalfLife'],
      [{ trendHalfLife: '1s' }, 'trendHalfLife'],
      [7, 'options'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new TrendGauge(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});
