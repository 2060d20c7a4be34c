import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { gradient2 } from '../../src/limits/gradient2.ts';
import { Fluid } from '../helpers/fluid.ts';
import { NaiveGradient2 } from '../helpers/naive-limits.ts';
import { record, sample, steady } from './helpers.ts';

describe('gradient2', () => {
  it('doubles in slow start while no queue forms, then settles at the capacity plus the queue allowance', () => {
    const limit = gradient2();
    const changes = record(limit);
    new Fluid(limit, { capacity: 100, baseMs: 20 }).run(2000);
    assert.deepEqual(
      changes.slice(0, 3).map((c) => [c.previous, c.limit, c.rule]),
      [
        [20, 40, 'slow-start'],
        [40, 80, 'slow-start'],
        [80, 160, 'slow-start'],
      ],
    );
    assert.equal(limit.slowStart, false);
    assert.ok(limit.current >= 100 && limit.current <= 110, `limit ${limit.current}`);
    assert.equal(limit.rttNoLoad, 20);
  });

  it('leaves slow start for the gradient target at once, undoing the overshoot in one round', () => {
    const limit = gradient2();
    const changes = record(limit);
    new Fluid(limit, { capacity: 100, baseMs: 20 }).run(1000);
    const exit = changes.find((c) => c.rule === 'gradient');
    assert.ok(exit !== undefined && exit.previous === 160);
    assert.ok(exit.limit >= 100 && exit.limit <= 110, `160 -> ${exit.limit}`);
  });

  it('moves the limit a smoothed step toward limit * gradient + queueSize when the capacity falls', () => {
    const limit = gradient2();
    const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
    fluid.run(5000);
    const before = limit.current;
    fluid.options.capacity = 70;
    const changes = record(limit);
    fluid.run(2000);
    let previous = before;
    for (const change of changes) {
      // Each round moves 30% of the way to limit * gradient + queueSize (up to the rounding of the estimate).
      const { gradient, queueSize } = change.signals as { gradient: number; queueSize: number };
      const expected = previous + 0.3 * (previous * gradient + queueSize - previous);
      assert.equal(change.rule, 'gradient');
      assert.ok(
        Math.abs(change.limit - expected) <= 1.5,
        `${previous} -> ${change.limit}, expected ${expected}`,
      );
      previous = change.limit;
    }
    assert.ok(changes[0]!.signals.gradient! < 0.9, 'latency rose with the queue');
    assert.ok(limit.current >= 70 && limit.current <= 76, `limit ${limit.current}`);
  });

  it('resumes slow start when latency holds at its no-load level round after round (the capacity grew)', () => {
    const limit = gradient2();
    const fluid = new Fluid(limit, { capacity: 50, baseMs: 20 });
    fluid.run(5000);
    fluid.options.capacity = 400;
    const changes = record(limit);
    fluid.run(1000);
    assert.ok(changes.some((c) => c.rule === 'slow-start'));
    assert.ok(limit.current >= 400 && limit.current <= 440, `limit ${limit.current}`);
  });

  it('backs off by 10% on a drop', () => {
    const limit = gradient2({ initial: 50 });
    assert.equal(limit.update(sample(100, 10, 50, true)), 45);
    assert.equal(limit.slowStart, false);
  });

  it('keeps pulling the limit down while every request drops, however steady latency is', () => {
    const limit = gradient2({ initial: 100 });
    steady(limit, 0, 1000, { rtt: 10, dropped: true });
    assert.equal(limit.current, 1);
  });

  it('(control) the drop check catches a Gradient2 that ignores drops', () => {
    const naive = new NaiveGradient2(100);
    steady(naive, 0, 1000, { rtt: 10, dropped: true });
    assert.ok(naive.current > 100, `limit ${naive.current}`);
  });

  it('follows a capacity collapse that times requests out, where ignoring drops climbs to the max', () => {
    for (const [limit, expectLow] of [
      [gradient2(), true],
      [new NaiveGradient2(), false],
    ] as const) {
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20, timeoutMs: 100 });
      fluid.run(10_000);
      fluid.options.capacity = 10;
      fluid.run(5000);
      if (expectLow) assert.ok(limit.current <= 15, `${limit.name}: limit ${limit.current}`);
      else assert.ok(limit.current >= 500, `${limit.name} (control): limit ${limit.current}`);
    }
  });

  it('(control) the creep check catches a Gradient2 that averages every sample into its long-term latency', () => {
    const naive = new NaiveGradient2();
    const fluid = new Fluid(naive, { capacity: 100, baseMs: 20 });
    fluid.run(10_000);
    assert.ok(naive.current > 200, `limit ${naive.current}`);
  });

  it('takes a fixed queue allowance or a function of the limit', () => {
    const fixed = gradient2({ queueSize: 10 });
    new Fluid(fixed, { capacity: 100, baseMs: 20 }).run(5000);
    const scaled = gradient2({ queueSize: (limit) => limit / 5 });
    new Fluid(scaled, { capacity: 100, baseMs: 20 }).run(5000);
    assert.ok(fixed.current >= 105 && fixed.current <= 112, `fixed: ${fixed.current}`);
    assert.ok(scaled.current >= 115 && scaled.current <= 130, `scaled: ${scaled.current}`);
  });

  it('rejects bad options, naming the option', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ queueSize: -1 }, 'gradient2.queueSize'],
      [{ queueSize: Number.NaN }, 'gradient2.queueSize'],
      [{ queueSize: 'four' }, 'gradient2.queueSize'],
      [{ smoothing: 0 }, 'gradient2.smoothing'],
      [{ smoothing: Number.NaN }, 'gradient2.smoothing'],
      [{ backoff: 0 }, 'gradient2.backoff'],
      [{ probeInterval: -10 }, 'gradient2.probeInterval'],
      [{ probeDepth: 0.01 }, 'gradient2.probeDepth'],
      [{ slowStart: 'no' }, 'gradient2.slowStart'],
      [{ min: 2, max: 1 }, 'gradient2.min'],
      [{ max: 0 }, 'gradient2.max'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => gradient2(options),
        (e) => isConfigError(e) && e.option === option,
        JSON.stringify(options),
      );
    }
  });
});
