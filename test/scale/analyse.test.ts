import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import {
  backlogGrowth,
  burnRate,
  ErrorBudgetBurn,
  errorBudgetBurn,
  SignalAnalyser,
  signalAnalyser,
} from '../../src/scale/analyse.ts';
import { close, seeded } from '../signals/helpers.ts';
import { signal } from './policies/helpers.ts';

describe('SignalAnalyser', () => {
  it('has no signal before the first reading', () => {
    const a = signalAnalyser();
    assert.equal(a.signal(0), undefined);
    assert.equal(a.readings, 0);
  });

  it('reports the latest reading, its time-decayed average and its age', () => {
    const a = signalAnalyser({ halfLife: 10_000 });
    a.update(100, 0);
    a.update(200, 10_000);
    const s = a.signal(12_500)!;
    assert.equal(s.value, 200);
    close(s.smoothed, 150, 1e-12, 'one half-life later the average moved half the gap');
    assert.equal(s.age, 2500);
    assert.equal(a.readings, 2);
    assert.equal(a.lastAt, 10_000);
  });

  it('has a slope of 0 and a forecast equal to the reading until readings at two times', () => {
    const a = signalAnalyser();
    a.update(7, 1000);
    const s = a.signal(1000)!;
    assert.deepEqual([s.slope, s.forecast, s.accuracy], [0, 7, 0]);
  });

  it('tracks a ramp: slope in units per second, forecast at the horizon from the time asked', () => {
    const a = signalAnalyser({ horizon: 30_000 });
    for (let t = 0; t <= 60_000; t += 5000) a.update(100 + t / 1000, t); // +1/s
    const fresh = a.signal(60_000)!;
    close(fresh.slope, 1, 1e-9);
    close(fresh.forecast, 190, 1e-9);
    const stale = a.signal(70_000)!;
    close(stale.forecast, 200, 1e-9, 'a stale signal is carried along its trend to now + horizon');
    assert.equal(stale.age, 10_000);
  });

  it('has accuracy 0 until a forecast comes due, then 1 for forecasts that came true', () => {
    const a = signalAnalyser({ horizon: 15_000 });
    // Readings every 10 s: a forecast made at t is due at t + 15 s, between two readings, and checked
    // against the value interpolated there, so a noiseless ramp is forecast exactly.
    for (let t = 0; t <= 20_000; t += 10_000) a.update(50 + (3 * t) / 1000, t);
    assert.equal(
      a.signal(20_000)!.accuracy,
      0,
      'no forecast is due yet (the first, made at 10 s, is due at 25 s)',
    );
    for (let t = 30_000; t <= 120_000; t += 10_000) a.update(50 + (3 * t) / 1000, t);
    close(a.signal(120_000)!.accuracy, 1, 1e-9);
  });

  it('forecasts a steady signal perfectly', () => {
    const a = signalAnalyser({ horizon: 30_000 });
    for (let t = 0; t <= 300_000; t += 15_000) a.update(42, t);
    assert.equal(a.signal(300_000)!.accuracy, 1);
  });

  it('loses accuracy when the trend breaks, and regains it as the new level holds', () => {
    const a = signalAnalyser({ horizon: 30_000, accuracyWindow: 10 });
    let t = 0;
    for (; t <= 300_000; t += 15_000) a.update(100 + t / 1000, t); // rising 1/s
    const before = a.accuracy;
    for (let i = 0; i < 4; i++, t += 15_000) a.update(100, t); // the load falls back and stays
    const broken = a.accuracy;
    for (let i = 0; i < 60; i++, t += 15_000) a.update(100, t);
    const after = a.accuracy;
    assert.ok(before > 0.999, `before ${before}`);
    assert.ok(broken < 0.8, `broken ${broken}`);
    assert.ok(after > 0.99, `after ${after}`);
  });

  it('measures a forecast error against the larger of actual and forecast (half and double cost 0.5)', () => {
    // Readings 15 s apart with a 15 s horizon: each forecast is checked against the next reading.
    const a = signalAnalyser({ horizon: 15_000, accuracyWindow: 1 });
    a.update(100, 0);
    a.update(100, 15_000);
    a.update(100, 30_000); // level 100, slope 0: forecast for 45 s is 100
    a.update(200, 45_000); // came double
    close(a.accuracy, 0.5, 1e-9);
    a.update(0, 60_000);
    assert.equal(a.accuracy, 0, 'a forecast above 0 when 0 came is as wrong as can be');
  });

  it('keeps accuracy in [0, 1] whatever the readings (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 20_000 })),
          {
            minLength: 1,
            maxLength: 200,
          },
        ),
        fc.integer({ min: 0, max: 60_000 }),
        (readings, horizon) => {
          const a = new SignalAnalyser({ horizon, accuracyWindow: 5 });
          let t = 0;
          for (const [v, dt] of readings) {
            t += dt;
            a.update(v, t);
            const s = a.signal(t)!;
            assert.ok(s.accuracy >= 0 && s.accuracy <= 1, `accuracy ${s.accuracy}`);
            assert.ok(Number.isFinite(s.forecast) && Number.isFinite(s.smoothed) && Number.isFinite(s.slope));
          }
        },
      ),
    );
  });

  it('checks forecasts when readings are far more frequent than the horizon', () => {
    const a = signalAnalyser({ horizon: 60_000 });
    const random = seeded(7);
    for (let t = 0; t <= 600_000; t += 100) a.update(1000 + (random() - 0.5) * 20, t); // ±1% noise
    assert.ok(a.accuracy > 0.98, `accuracy ${a.accuracy}`);
  });

  it('ignores non-finite readings: the last value stays and its age grows', () => {
    const a = signalAnalyser();
    a.update(5, 0);
    a.update(Number.NaN, 1000);
    a.update(Number.POSITIVE_INFINITY, 2000);
    const s = a.signal(3000)!;
    assert.deepEqual([s.value, s.age, a.readings], [5, 3000, 1]);
  });

  it('counts a reading older than the last at the last reading time', () => {
    const a = signalAnalyser();
    a.update(5, 10_000);
    a.update(7, 4000);
    assert.equal(a.lastAt, 10_000);
    assert.equal(a.signal(10_000)!.value, 7);
  });

  it('forgets everything on reset', () => {
    const a = signalAnalyser({ horizon: 1000 });
    for (let t = 0; t < 10_000; t += 500) a.update(1, t);
    assert.equal(a.accuracy, 1);
    a.reset();
    assert.equal(a.signal(10_000), undefined);
    assert.equal(a.accuracy, 0);
    assert.equal(a.lastAt, Number.NEGATIVE_INFINITY);
  });

  it('rejects invalid options, naming them', () => {
    const cases: [object, string][] = [
      [{ horizon: -1 }, 'analyser.horizon'],
      [{ horizon: Number.POSITIVE_INFINITY }, 'analyser.horizon'],
      [{ halfLife: 0 }, 'analyser.halfLife'],
      [{ levelHalfLife: Number.NaN }, 'analyser.levelHalfLife'],
      [{ trendHalfLife: -5 }, 'analyser.trendHalfLife'],
      [{ accuracyWindow: 0 }, 'analyser.accuracyWindow'],
      [{ accuracyWindow: 2.5 }, 'analyser.accuracyWindow'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => new SignalAnalyser(options),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
    assert.throws(() => new SignalAnalyser(null as never), isConfigError);
  });
});

describe('error-budget burn', () => {
  it('is the error ratio over the budget: 1% errors against a 99.9% SLO burn 10x', () => {
    close(burnRate(0.01, 0.999), 10, 1e-9);
    assert.equal(burnRate(0, 0.99), 0);
    assert.throws(
      () => burnRate(0.1, 1),
      (e: unknown) => isConfigError(e) && e.option === 'slo',
    );
  });

  it('measures the error ratio over a sliding window', () => {
    const b = errorBudgetBurn({ slo: 0.99, window: 60_000, slots: 6 });
    assert.equal(b.burn(0), 0, 'no requests, no burn');
    b.add(0, 1000, 0);
    b.add(20, 1000, 30_000);
    close(b.errorRatio(30_000), 0.01, 1e-12);
    close(b.burn(30_000), 1, 1e-9);
    // The clean first minute leaves the window; the bad half-minute alone burns 2x.
    close(b.burn(70_000), 2, 1e-9);
    assert.equal(b.burn(200_000), 0, 'all out of the window');
  });

  it('takes cumulative counters, and a counter that goes down has restarted', () => {
    const b = new ErrorBudgetBurn({ slo: 0.999 });
    b.addTotals(50, 10_000, 0); // a baseline only
    assert.equal(b.burn(0), 0);
    b.addTotals(60, 20_000, 15_000); // 10 errors in 10 000
    close(b.burn(15_000), 1, 1e-9);
    b.addTotals(5, 1000, 30_000); // restarted: 5 errors in 1000
    close(b.errorRatio(30_000), 15 / 11_000, 1e-12);
  });

  it('ignores negative and non-finite counts, and counts errors beyond requests as requests', () => {
    const b = new ErrorBudgetBurn({ slo: 0.9 });
    b.add(-1, 10, 0);
    b.add(Number.NaN, 10, 0);
    assert.equal(b.burn(0), 0);
    b.add(5, 2, 0);
    assert.equal(b.errorRatio(0), 1);
    b.reset();
    assert.equal(b.burn(0), 0);
  });

  it('rejects invalid options, naming them', () => {
    for (const [options, option] of [
      [{ slo: 1 }, 'errorBudgetBurn.slo'],
      [{ slo: 0 }, 'errorBudgetBurn.slo'],
      [{}, 'errorBudgetBurn.slo'],
      [{ slo: 0.99, window: 0 }, 'errorBudgetBurn.window'],
      [{ slo: 0.99, slots: 0 }, 'errorBudgetBurn.slots'],
    ] as const) {
      assert.throws(
        () => errorBudgetBurn(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
  });
});

describe('backlogGrowth', () => {
  it('reads growth from the slope, with the time until the backlog drains', () => {
    const g = backlogGrowth(signal(600, { slope: -20, smoothed: 500 }));
    assert.deepEqual(g, { perSecond: -20, relative: -0.04, secondsToEmpty: 30, secondsToLimit: Infinity });
  });

  it('gives the time until a growing backlog reaches its limit', () => {
    const g = backlogGrowth(signal(600, { slope: 50 }), 1000);
    assert.equal(g.secondsToLimit, 8);
    assert.equal(g.secondsToEmpty, Infinity);
  });

  it('reports an empty backlog as drained', () => {
    const g = backlogGrowth(signal(0, { slope: 0 }));
    assert.deepEqual(g, { perSecond: 0, relative: 0, secondsToEmpty: 0, secondsToLimit: Infinity });
  });

  it('grows from a SignalAnalyser fed a filling queue', () => {
    const a = signalAnalyser();
    for (let t = 0; t <= 60_000; t += 5000) a.update((t / 1000) * 12, t); // +12 messages/s
    const g = backlogGrowth(a.signal(60_000)!, 1440);
    close(g.perSecond, 12, 1e-9);
    close(g.secondsToLimit, 60, 1e-9);
  });
});
