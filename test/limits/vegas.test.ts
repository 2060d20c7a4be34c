import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { vegas } from '../../src/limits/vegas.ts';
import { Fluid } from '../helpers/fluid.ts';
import { NaiveVegas } from '../helpers/naive-limits.ts';
import { record, sample, steady } from './helpers.ts';

describe('vegas', () => {
  it('doubles in slow start while no queue forms, then settles just above the capacity', () => {
    const limit = vegas();
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
    assert.ok(limit.current >= 100 && limit.current <= 115, `limit ${limit.current}`);
    assert.equal(limit.rttNoLoad, 20);
  });

  it('cuts a queue far above beta down to beta at once, not by log10 steps', () => {
    const limit = vegas();
    const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
    fluid.run(5000);
    fluid.options.capacity = 50;
    const changes = record(limit);
    fluid.run(250);
    // The first round may straddle the change; the next one sees the whole queue and cuts it to about beta.
    const [first, second] = changes;
    assert.ok(first?.rule === 'decrease' && second?.rule === 'decrease');
    assert.ok(
      second.limit >= 50 && second.limit <= 60,
      `${first.previous} -> ${first.limit} -> ${second.limit}`,
    );
    assert.ok(limit.current >= 50 && limit.current <= 58, `limit ${limit.current}`);
  });

  it('grows back to the capacity within a second when it doubles', () => {
    const limit = vegas();
    const fluid = new Fluid(limit, { capacity: 50, baseMs: 20 });
    fluid.run(5000);
    fluid.options.capacity = 100;
    fluid.run(1000);
    assert.ok(limit.current >= 100 && limit.current <= 115, `limit ${limit.current}`);
  });

  it('backs off by 10% on a drop', () => {
    const limit = vegas({ initial: 50 });
    assert.equal(limit.update(sample(100, 10, 50, true)), 45);
    assert.equal(limit.slowStart, false);
  });

  it('keeps pulling the limit down while every request drops, however steady latency is', () => {
    const limit = vegas({ initial: 100 });
    steady(limit, 0, 1000, { rtt: 10, dropped: true });
    assert.equal(limit.current, 1);
  });

  it('(control) the creep check catches a Vegas whose probe adopts a queued latency', () => {
    const naive = new NaiveVegas();
    const fluid = new Fluid(naive, { capacity: 100, baseMs: 20 });
    fluid.run(10_000);
    const early = naive.current;
    fluid.run(110_000);
    assert.ok(naive.current > early * 1.5 && naive.current > 200, `${early} -> ${naive.current}`);
  });

  it('steps a limit down while probes still queue, finding a capacity collapse the baseline hid', () => {
    const limit = vegas();
    const fluid = new Fluid(limit, { capacity: 100, baseMs: 40 });
    fluid.run(20_000);
    // The downstream gets faster and smaller at once: latency at the old limit looks like no queue at all.
    fluid.options.capacity = 10;
    fluid.options.baseMs = 20;
    fluid.run(5000);
    assert.ok(limit.current <= 15, `limit ${limit.current}`);
  });

  it('rejects bad options, naming the option', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ alpha: 3 }, 'vegas.alpha'],
      [{ beta: 'x' }, 'vegas.beta'],
      [{ threshold: null }, 'vegas.threshold'],
      [{ increase: 1 }, 'vegas.increase'],
      [{ decrease: {} }, 'vegas.decrease'],
      [{ smoothing: 0 }, 'vegas.smoothing'],
      [{ smoothing: 1.5 }, 'vegas.smoothing'],
      [{ backoff: 1 }, 'vegas.backoff'],
      [{ probeInterval: 0 }, 'vegas.probeInterval'],
      [{ probeInterval: Number.NaN }, 'vegas.probeInterval'],
      [{ probeDepth: 0.6 }, 'vegas.probeDepth'],
      [{ probeDepth: -0.2 }, 'vegas.probeDepth'],
      [{ slowStart: 1 }, 'vegas.slowStart'],
      [{ min: 10, max: 5 }, 'vegas.min'],
      [{ initial: 0 }, 'vegas.initial'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => vegas(options),
        (e) => isConfigError(e) && e.option === option,
        JSON.stringify(options),
      );
    }
  });
});
