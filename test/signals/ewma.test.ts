import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { Ewma } from '../../src/signals/ewma.ts';
import { close } from './helpers.ts';

describe('Ewma', () => {
  it('is NaN with no samples, and takes the first sample as its value', () => {
    const e = new Ewma();
    assert.ok(Number.isNaN(e.value));
    assert.equal(e.samples, 0);
    assert.equal(e.update(42, 1234), 42);
    assert.equal(e.value, 42);
    assert.equal(e.samples, 1);
  });

  it('moves halfway to a new sample after one half-life', () => {
    const e = new Ewma({ halfLife: 1000 });
    e.update(0, 0);
    close(e.update(10, 1000), 5);
    close(e.update(10, 3000), 5 + 5 * 0.75);
  });

  it('weighs each sample by 1 - 2^(-dt / halfLife) for irregular intervals', () => {
    const e = new Ewma({ halfLife: 1000 });
    e.update(0, 0);
    const v1 = 10 * (1 - 2 ** -0.5);
    close(e.update(10, 500), v1);
    const v2 = v1 + (1 - 2 ** -1.5) * (20 - v1);
    close(e.update(20, 2000), v2);
    const v3 = v2 + (1 - 2 ** -0.01) * (-5 - v2);
    close(e.update(-5, 2010), v3);
  });

  it('gives the same value whether a held level is sampled once or many times (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.array(fc.double({ min: 0.001, max: 5000, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.double({ min: 1, max: 10_000, noNaN: true }),
        (start, level, gaps, halfLife) => {
          const once = new Ewma({ halfLife });
          const often = new Ewma({ halfLife });
          once.update(start, 0);
          often.update(start, 0);
          let t = 0;
          for (const gap of gaps) {
            t += gap;
            often.update(level, t);
          }
          once.update(level, t);
          close(often.value, once.value, 1e-7);
        },
      ),
    );
  });

  it('averages samples that share a timestamp instead of letting the first win', () => {
    const e = new Ewma({ halfLife: 1000 });
    e.update(0, 0);
    e.update(10, 1000);
    e.update(20, 1000);
    e.update(30, 1000);
    close(e.value, 10); // halfway to the mean 20
    const burst = new Ewma();
    burst.update(4, 0);
    burst.update(8, 0);
    close(burst.value, 6);
  });

  it('counts a sample older than the last at the last timestamp', () => {
    const e = new Ewma({ halfLife: 1000 });
    e.update(0, 0);
    e.update(10, 1000);
    e.update(30, 900);
    close(e.value, 10);
  });

  it('holds its value without samples and ignores non-finite samples', () => {
    const e = new Ewma();
    e.update(7, 0);
    assert.equal(e.update(Number.NaN, 10), 7);
    assert.equal(e.update(Number.POSITIVE_INFINITY, 20), 7);
    assert.equal(e.samples, 1);
    assert.equal(e.value, 7);
  });

  it('with alpha, moves by alpha of the gap per sample whatever the time between samples', () => {
    const e = new Ewma({ alpha: 0.25 });
    e.update(0, 0);
    close(e.update(100, 0), 25);
    close(e.update(100, 1_000_000), 43.75);
    const raw = new Ewma({ alpha: 1 });
    raw.update(1, 0);
    assert.equal(raw.update(9, 0), 9);
  });

  it('forgets everything on reset', () => {
    const e = new Ewma();
    e.update(5, 0);
    e.update(6, 100);
    e.reset();
    assert.ok(Number.isNaN(e.value));
    assert.equal(e.samples, 0);
    assert.equal(e.update(3, 50), 3);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ halfLife: Number.NaN }, 'halfLife'],
      [{ halfLife: 0 }, 'halfLife'],
      [{ halfLife: -1 }, 'halfLife'],
      [{ halfLife: Number.POSITIVE_INFINITY }, 'halfLife'],
      [{ alpha: 0 }, 'alpha'],
      [{ alpha: 1.5 }, 'alpha'],
      [{ alpha: Number.NaN }, 'alpha'],
      [{ alpha: 0.5, halfLife: 100 }, 'alpha'],
      [42, 'options'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new Ewma(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});
