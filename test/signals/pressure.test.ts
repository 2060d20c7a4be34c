import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type PressureInputs,
  type PressureLevel,
  PressureMeter,
  type PressureReading,
  pressureScore,
} from '../../src/signals/pressure.ts';
import { close } from './helpers.ts';

const anyNumber = fc.oneof(
  fc.double({ min: 0, max: 1e4, noNaN: true }),
  fc.constantFrom(0, 1, Number.NaN, -1, Number.POSITIVE_INFINITY),
);

const inputs: fc.Arbitrary<PressureInputs> = fc.record(
  {
    latency: anyNumber,
    latencyBaseline: anyNumber,
    queueDepth: anyNumber,
    queueCapacity: anyNumber,
    queueAge: anyNumber,
    dropRate: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), anyNumber),
    errorRate: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), anyNumber),
  },
  { requiredKeys: [] },
);

/** Inputs whose score is `s` (through the drop-rate curve alone, at the default tolerance of 0.05). */
function scoring(s: number): PressureInputs {
  return { dropRate: 0.05 * Math.sqrt(s / (1 - s)) };
}

describe('pressureScore', () => {
  it('is 0 with nothing to go on, and names no dominant component', () => {
    const r = pressureScore({});
    assert.equal(r.score, 0);
    assert.equal(r.dominant, 'none');
    assert.deepEqual(r.components, { latency: 0, queue: 0, age: 0, drops: 0, errors: 0 });
  });

  it('reads 0.5 for a component at its reference point', () => {
    close(pressureScore({ latency: 200, latencyBaseline: 100 }).score, 0.5);
    close(pressureScore({ queueDepth: 50, queueCapacity: 100 }).score, 0.5);
    close(pressureScore({ queueAge: 100 }).score, 0.5);
    close(pressureScore({ dropRate: 0.05 }).score, 0.5);
    close(pressureScore({ errorRate: 0.1 }, { weights: { errors: 1 } }).score, 0.5);
    close(pressureScore({ errorRate: 0.1 }).score, 0.25); // errors weigh 0.5 by default
  });

  it('lets one severe component push the score high on its own', () => {
    assert.equal(pressureScore({ queueDepth: 100, queueCapacity: 100 }).score, 1);
    assert.ok(pressureScore({ latency: 1000, latencyBaseline: 100 }).score > 0.98);
    assert.ok(pressureScore({ queueAge: 1000 }).score > 0.98);
    assert.ok(pressureScore({ dropRate: 0.5 }).score > 0.98);
  });

  it('combines components as a soft OR: two at 0.5 make 0.75', () => {
    const r = pressureScore({ latency: 200, latencyBaseline: 100, queueAge: 100 });
    close(r.score, 0.75);
  });

  it('ignores latency at or below its baseline and small deviations barely count', () => {
    assert.equal(pressureScore({ latency: 80, latencyBaseline: 100 }).score, 0);
    assert.equal(pressureScore({ latency: 100, latencyBaseline: 100 }).score, 0);
    assert.ok(pressureScore({ latency: 110, latencyBaseline: 100 }).score < 0.02);
    assert.ok(pressureScore({ queueDepth: 2, queueCapacity: 1000 }).score < 0.001);
  });

  it('names the component contributing most as dominant', () => {
    const r = pressureScore({
      latency: 150,
      latencyBaseline: 100,
      queueDepth: 90,
      queueCapacity: 100,
      dropRate: 0.01,
    });
    assert.equal(r.dominant, 'queue');
    assert.ok(r.components.queue > r.components.latency && r.components.latency > 0);
    assert.equal(pressureScore({ queueAge: 300, dropRate: 0.01 }).dominant, 'age');
  });

  it('honours weights and tolerances: 0 ignores a component', () => {
    assert.equal(pressureScore({ queueAge: 1000 }, { weights: { age: 0 } }).score, 0);
    close(pressureScore({ latency: 400, latencyBaseline: 100 }, { latencyTolerance: 4 }).score, 0.5);
    close(pressureScore({ queueAge: 20 }, { ageTarget: 20 }).score, 0.5);
    close(pressureScore({ dropRate: 0.2 }, { dropTolerance: 0.2 }).score, 0.5);
    close(pressureScore({ queueDepth: 100, queueCapacity: 100 }, { weights: { queue: 0.3 } }).score, 0.3);
  });

  it('stays in [0, 1] for any inputs, with components in [0, 1] (property)', () => {
    fc.assert(
      fc.property(inputs, (i) => {
        const r = pressureScore(i);
        assert.ok(r.score >= 0 && r.score <= 1, `score ${r.score}`);
        for (const c of Object.values(r.components)) assert.ok(c >= 0 && c <= 1, `component ${c}`);
        assert.ok(r.score >= Math.max(...Object.values(r.components)) - 1e-12);
      }),
    );
  });

  it('never falls when any one input worsens (property)', () => {
    const worsen = fc.constantFrom<[keyof PressureInputs, 1 | -1]>(
      ['latency', 1],
      ['latencyBaseline', -1],
      ['queueDepth', 1],
      ['queueCapacity', -1],
      ['queueAge', 1],
      ['dropRate', 1],
      ['errorRate', 1],
    );
    const positive = fc.double({ min: 1e-3, max: 1e4, noNaN: true });
    const valid: fc.Arbitrary<PressureInputs> = fc.record({
      latency: positive,
      latencyBaseline: positive,
      queueDepth: positive,
      queueCapacity: positive,
      queueAge: positive,
      dropRate: fc.double({ min: 0, max: 1, noNaN: true }),
      errorRate: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(
        valid,
        worsen,
        fc.double({ min: 1, max: 100, noNaN: true }),
        (base, [key, direction], factor) => {
          const value = base[key]!;
          const worse = { ...base, [key]: direction > 0 ? value * factor : value / factor };
          const before = pressureScore(base);
          const after = pressureScore(worse);
          assert.ok(after.score >= before.score, `${key}: ${before.score} -> ${after.score}`);
        },
      ),
    );
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ weights: { latency: 2 } }, 'weights.latency'],
      [{ weights: { queue: -0.1 } }, 'weights.queue'],
      [{ weights: { drops: Number.NaN } }, 'weights.drops'],
      [{ weights: 1 }, 'weights'],
      [{ latencyTolerance: 1 }, 'latencyTolerance'],
      [{ latencyTolerance: Number.NaN }, 'latencyTolerance'],
      [{ ageTarget: 0 }, 'ageTarget'],
      [{ dropTolerance: 0 }, 'dropTolerance'],
      [{ errorTolerance: 2 }, 'errorTolerance'],
      ['x', 'options'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => pressureScore({}, options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});

describe('PressureMeter', () => {
  it('starts normal with a score of 0', () => {
    const m = new PressureMeter();
    assert.equal(m.level, 'normal');
    assert.equal(m.score, 0);
    assert.equal(m.last, undefined);
  });

  it('does not flap while the score hovers at a threshold', () => {
    const clock = new VirtualClock();
    // No smoothing (1 ms half-life at 100 ms steps): the hysteresis alone must hold the level.
    const meter = (elevated?: {
      enter: number;
      exit: number;
    }): { levels: PressureLevel[]; m: PressureMeter } => {
      const m = new PressureMeter({ halfLife: 1, ...(elevated && { elevated }) });
      const levels: PressureLevel[] = [];
      m.on('level', (e) => levels.push(e.level));
      return { levels, m };
    };
    const wide = meter();
    const narrow = meter({ enter: 0.5, exit: 0.49 });
    const feed = (s: number): void => {
      clock.advance(100);
      wide.m.update(scoring(s), clock.now());
      narrow.m.update(scoring(s), clock.now());
    };
    for (let i = 0; i < 200; i++) feed(i % 2 === 0 ? 0.55 : 0.45); // around elevated.enter
    assert.deepEqual(wide.levels, ['elevated']);
    assert.equal(narrow.levels.length, 200); // the same signal without a band flaps on every reading
    for (let i = 0; i < 200; i++) feed(i % 2 === 0 ? 0.3 : 0.4); // around elevated.exit
    assert.deepEqual(wide.levels, ['elevated', 'normal']);
  });

  it('climbs to critical and steps back down through the exit thresholds', () => {
    const m = new PressureMeter({ halfLife: 1 }); // ~no smoothing at 1 s steps
    let t = 0;
    const step = (s: number): PressureReading => m.update(scoring(s), (t += 1000));
    assert.equal(step(0.3).level, 'normal');
    assert.equal(step(0.6).level, 'elevated');
    assert.equal(step(0.9).level, 'critical');
    assert.equal(step(0.7).level, 'critical'); // above critical.exit
    const down = step(0.6);
    assert.equal(down.level, 'elevated');
    assert.equal(down.previous, 'critical');
    assert.equal(step(0.4).level, 'elevated'); // above elevated.exit
    assert.equal(step(0.3).level, 'normal');
    assert.equal(step(0.95).level, 'critical'); // levels may skip
    assert.equal(step(0.1).level, 'normal');
  });

  it('smooths the score, so that a lone spike does not change the level', () => {
    const m = new PressureMeter({ halfLife: 5000 });
    let t = 0;
    for (let i = 0; i < 20; i++) m.update(scoring(0.1), (t += 500));
    const spike = m.update(scoring(0.99), (t += 500));
    assert.ok(spike.raw.score > 0.98);
    assert.ok(spike.score < 0.3, `smoothed ${spike.score}`);
    assert.equal(spike.level, 'normal');
  });

  it('explains a level change in its event', () => {
    const m = new PressureMeter({ name: 'api', halfLife: 1 });
    const events: unknown[] = [];
    m.on('level', (e) => events.push(e));
    m.update({ queueAge: 50 }, 1000);
    m.update({ queueAge: 1000 }, 2000);
    assert.equal(events.length, 1);
    const e = events[0] as PressureReading & { meter: string };
    assert.equal(e.meter, 'api');
    assert.equal(e.at, 2000);
    assert.equal(e.previous, 'normal');
    assert.equal(e.level, 'critical');
    assert.equal(e.raw.dominant, 'age');
  });

  it('returns to normal with no history on reset', () => {
    const m = new PressureMeter({ halfLife: 1 });
    m.update(scoring(0.9), 1000);
    assert.equal(m.level, 'critical');
    m.reset();
    assert.equal(m.level, 'normal');
    assert.equal(m.score, 0);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ halfLife: 0 }, 'halfLife'],
      [{ elevated: { enter: 0.5, exit: 0.5 } }, 'elevated.exit'],
      [{ elevated: { enter: 0.5, exit: 0.6 } }, 'elevated.exit'],
      [{ critical: { enter: 1.2, exit: 0.7 } }, 'critical.enter'],
      [{ critical: { enter: 0.4, exit: 0.3 } }, 'elevated.enter'],
      [{ critical: { enter: 0.9, exit: 0.3 } }, 'elevated.exit'],
      [{ elevated: 0.5 }, 'elevated'],
      [{ name: '' }, 'name'],
      [{ weights: { age: 3 } }, 'weights.age'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new PressureMeter(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});
