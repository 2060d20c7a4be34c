import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { RateMeter } from '../../src/signals/rate.ts';
import { close } from './helpers.ts';

describe('RateMeter', () => {
  it('reads a steady stream at its rate, also part-way through a slot', () => {
    const m = new RateMeter({ window: 10_000, slots: 10 });
    for (let t = 0; t < 30_000; t += 10) m.mark(t); // 100 per second
    for (const now of [29_999, 30_000 - 10 + 5]) close(m.rate(now), 100, 0.002, `at ${now}`);
    let t = 30_000;
    for (; t < 30_550; t += 10) m.mark(t);
    close(m.rate(t - 5), 100, 0.002, 'mid-slot');
  });

  it('reads the rate during warm-up, before a whole window has passed', () => {
    const m = new RateMeter({ window: 10_000, slots: 10 });
    for (let t = 0; t < 2000; t += 10) m.mark(t);
    close(m.rate(1995), 100, 0.01);
  });

  it('sums weighted amounts per second', () => {
    const m = new RateMeter({ window: 1000, slots: 10 });
    for (let t = 0; t < 5000; t += 100) m.mark(t, 512); // 5120 bytes per second
    close(m.rate(4999), 5120, 0.002);
    assert.equal(m.total(4999), 5120);
  });

  it('lets events leave the window a slot at a time', () => {
    const m = new RateMeter({ window: 1000, slots: 10 });
    m.mark(0, 3);
    m.mark(450, 2);
    assert.equal(m.total(999), 5);
    assert.equal(m.total(1000), 2);
    assert.equal(m.total(1499), 0);
    assert.equal(m.rate(1499), 0);
  });

  it('follows a change of rate within a window', () => {
    const m = new RateMeter({ window: 2000, slots: 20 });
    let t = 0;
    for (; t < 10_000; t += 10) m.mark(t); // 100/s
    for (; t < 13_000; t += 50) m.mark(t); // 20/s
    close(m.rate(t), 20, 0.05);
  });

  it('keeps its total equal to the events of the slots still in the window (property)', () => {
    const op = fc.record({ dt: fc.integer({ min: 0, max: 300 }), amount: fc.integer({ min: 0, max: 10 }) });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 100 }), (ops) => {
        const m = new RateMeter({ window: 1000, slots: 10 });
        const marks: { t: number; amount: number }[] = [];
        let t = 0;
        for (const { dt, amount } of ops) {
          t += dt;
          m.mark(t, amount);
          marks.push({ t, amount });
          const epoch = Math.floor(t / 100);
          const expected = marks
            .filter((x) => Math.floor(x.t / 100) > epoch - 10)
            .reduce((s, x) => s + x.amount, 0);
          assert.equal(m.total(t), expected);
          assert.ok(m.rate(t) >= 0 && Number.isFinite(m.rate(t)));
        }
      }),
    );
  });

  it('does not read a lone first event as a burst', () => {
    const m = new RateMeter({ window: 10_000, slots: 10 });
    m.mark(0);
    assert.equal(m.rate(0), 1); // one event over at least one slot (1 s)
  });

  it('is 0 before anything is marked and ignores NaN, negative and infinite amounts', () => {
    const m = new RateMeter();
    assert.equal(m.rate(0), 0);
    m.mark(1, Number.NaN);
    m.mark(2, -1);
    m.mark(3, Number.POSITIVE_INFINITY);
    assert.equal(m.total(3), 0);
  });

  it('forgets everything on reset', () => {
    const m = new RateMeter();
    m.mark(0, 5);
    m.reset();
    assert.equal(m.total(0), 0);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ window: 0 }, 'window'],
      [{ window: Number.POSITIVE_INFINITY }, 'window'],
      [{ slots: 0 }, 'slots'],
      [{ slots: Number.NaN }, 'slots'],
      [null, 'options'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new RateMeter(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});
