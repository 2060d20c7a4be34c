import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createDegrader, type DegraderEvents, type DegraderOptions } from '../../src/policies/degrade.ts';
import { type PressureLevel, PressureMeter } from '../../src/signals/pressure.ts';

/** A degrader whose smoothing is negligible at the 100 ms steps the tests take, so levels follow the score. */
function setup(options: Omit<DegraderOptions, 'clock'> = {}) {
  const clock = new VirtualClock();
  const degrader = createDegrader({ clock, halfLife: 0.001, ...options });
  return { clock, degrader };
}

/** Feeds `scores` 100 ms apart; returns the level after each. */
function feed(
  clock: VirtualClock,
  degrader: ReturnType<typeof createDegrader>,
  scores: number[],
): PressureLevel[] {
  return scores.map((s) => {
    clock.advance(100);
    return degrader.update(s);
  });
}

describe('degrader: levels', () => {
  it('starts normal, enters elevated at 0.5 and critical at 0.8', () => {
    const { clock, degrader } = setup();
    assert.equal(degrader.level, 'normal');
    assert.deepEqual(feed(clock, degrader, [0.3, 0.5, 0.79, 0.8]), [
      'normal',
      'elevated',
      'elevated',
      'critical',
    ]);
  });

  it('leaves a level only below its exit threshold', () => {
    const { clock, degrader } = setup();
    assert.deepEqual(feed(clock, degrader, [0.9, 0.66, 0.64, 0.36, 0.34]), [
      'critical',
      'critical',
      'elevated',
      'elevated',
      'normal',
    ]);
  });

  it('does not flap when the score hovers at a threshold', () => {
    const { clock, degrader } = setup();
    const changes: PressureLevel[] = [];
    degrader.on('level', (e) => changes.push(e.level));
    const hovering = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 0.51 : 0.49));
    feed(clock, degrader, hovering);
    assert.deepEqual(changes, ['elevated']);
    feed(
      clock,
      degrader,
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 0.81 : 0.79)),
    );
    assert.deepEqual(changes, ['elevated', 'critical']);
  });

  it('takes its thresholds from the options', () => {
    const { clock, degrader } = setup({
      elevated: { enter: 0.2, exit: 0.1 },
      critical: { enter: 0.4, exit: 0.3 },
    });
    assert.deepEqual(feed(clock, degrader, [0.2, 0.45, 0.35, 0.05]), [
      'elevated',
      'critical',
      'critical',
      'normal',
    ]);
  });

  it('smooths by default: one spike does not change the level', () => {
    const clock = new VirtualClock();
    const degrader = createDegrader({ clock });
    feed(clock, degrader, [0.1, 0.1, 1, 0.1, 0.1]);
    assert.equal(degrader.level, 'normal');
  });

  it('reads a ready-made score exactly, clamped to [0, 1]', () => {
    const { clock, degrader } = setup();
    for (const s of [0, 0.1, 0.25, 0.5, 0.75, 0.999, 1]) {
      clock.advance(100);
      degrader.update(s);
      assert.ok(Math.abs(degrader.score - s) < 1e-12, `${degrader.score} for ${s}`);
    }
    clock.advance(100);
    degrader.update(7);
    assert.equal(degrader.score, 1);
    assert.throws(() => degrader.update(Number.NaN), RangeError);
  });

  it('explains a level change: scores and the dominant component', () => {
    const { clock, degrader } = setup({ name: 'pages' });
    const seen: DegraderEvents['level'][] = [];
    const channel: unknown[] = [];
    const onChannel = (m: unknown) => channel.push(m);
    subscribe('sluice:degrader:level', onChannel);
    degrader.on('level', (e) => seen.push(e));
    try {
      clock.advance(100);
      degrader.update({ latency: 400, latencyBaseline: 100 });
      clock.advance(100);
      degrader.update(0.1);
    } finally {
      unsubscribe('sluice:degrader:level', onChannel);
    }
    assert.equal(seen.length, 2);
    const [up, down] = seen;
    assert.equal(up?.degrader, 'pages');
    assert.equal(up?.level, 'critical');
    assert.equal(up?.previous, 'normal');
    assert.equal(up?.dominant, 'latency');
    assert.ok(Math.abs((up?.raw ?? 0) - 0.9) < 1e-9, 'latency at 4x its baseline scores 0.9');
    assert.equal(down?.level, 'normal');
    assert.equal(down?.dominant, 'score');
    assert.equal(down?.at, 200);
    assert.equal(channel.length, 2);
  });
});

describe('degrader: run', () => {
  const at = (level: PressureLevel) => {
    const { clock, degrader } = setup();
    clock.advance(100);
    degrader.update({ normal: 0, elevated: 0.6, critical: 0.9 }[level]);
    assert.equal(degrader.level, level);
    return degrader;
  };

  it('runs the variant of the current level and returns its result as is', () => {
    const variants = { normal: () => 'full', elevated: () => 'lite', critical: () => 'stale' };
    assert.equal(at('normal').run(variants), 'full');
    assert.equal(at('elevated').run(variants), 'lite');
    assert.equal(at('critical').run(variants), 'stale');
    const promise = Promise.resolve(1);
    assert.equal(at('normal').run({ normal: () => promise }), promise);
  });

  it('falls back to the nearest milder variant given', () => {
    assert.equal(at('critical').run({ normal: () => 'full', elevated: () => 'lite' }), 'lite');
    assert.equal(at('critical').run({ normal: () => 'full' }), 'full');
    assert.equal(at('elevated').run({ normal: () => 'full', critical: () => 'stale' }), 'full');
  });

  it('tells the variant the current level and the call context', () => {
    const ctx = at('critical').run({ normal: (c) => c }, { priority: 'high', attempt: 1 });
    assert.deepEqual(ctx, {
      signal: undefined,
      deadline: undefined,
      attempt: 1,
      priority: 'high',
      level: 'critical',
    });
  });

  it('refuses variants without a normal one', () => {
    assert.throws(() => at('normal').run({} as never), isConfigError);
  });
});

describe('degrader: polling', () => {
  it('polls the source on the clock and follows it; stop leaves no timer', () => {
    const clock = new VirtualClock();
    let score = 0;
    let polls = 0;
    const degrader = createDegrader({
      clock,
      halfLife: 0.001,
      interval: 250,
      source: () => {
        polls++;
        return score;
      },
    });
    assert.equal(degrader.polling, true);
    assert.equal(clock.pending, 1);
    clock.advance(1000);
    assert.equal(polls, 4);
    score = 0.9;
    clock.advance(250);
    assert.equal(degrader.level, 'critical');
    degrader.stop();
    degrader.stop();
    assert.equal(degrader.polling, false);
    assert.equal(clock.pending, 0);
    score = 0;
    clock.advance(1000);
    assert.equal(polls, 5);
    assert.equal(degrader.level, 'critical');
    degrader.start();
    degrader.start();
    assert.equal(clock.pending, 1);
    clock.advance(250);
    assert.equal(degrader.level, 'normal');
    degrader.close();
    assert.equal(clock.pending, 0);
  });

  it('holds the level and reports an error when the source throws; skips undefined', () => {
    const clock = new VirtualClock();
    let next: () => number | undefined = () => 0.9;
    const degrader = createDegrader({ clock, halfLife: 0.001, interval: 100, source: () => next() });
    const errors: unknown[] = [];
    degrader.on('error', (e) => errors.push(e.error));
    clock.advance(100);
    assert.equal(degrader.level, 'critical');
    const boom = new Error('boom');
    next = () => {
      throw boom;
    };
    clock.advance(100);
    next = () => undefined;
    clock.advance(100);
    assert.equal(degrader.level, 'critical');
    assert.deepEqual(errors, [boom]);
    assert.equal(clock.pending, 1, 'still polling');
    degrader[Symbol.dispose]();
    assert.equal(clock.pending, 0);
  });

  it('may be stopped from within its own poll', () => {
    const clock = new VirtualClock();
    const degrader = createDegrader({
      clock,
      interval: 100,
      source: () => {
        degrader.stop();
        return 0.1;
      },
    });
    clock.advance(100);
    assert.equal(clock.pending, 0);
  });

  it('refuses to start without a source', () => {
    const { degrader } = setup();
    assert.equal(degrader.polling, false);
    assert.throws(() => degrader.start(), isConfigError);
  });
});

describe('degrader: a shared meter', () => {
  it('follows a meter fed elsewhere, and detaches on close', () => {
    const clock = new VirtualClock();
    const meter = new PressureMeter({ halfLife: 0.001 });
    const degrader = createDegrader({ clock, meter });
    const levels: PressureLevel[] = [];
    degrader.on('level', (e) => levels.push(e.level));
    meter.update({ queueDepth: 95, queueCapacity: 100 }, 100);
    assert.equal(degrader.level, 'critical');
    degrader.close();
    meter.update({}, 200);
    assert.equal(degrader.level, 'normal');
    assert.deepEqual(levels, ['critical']);
  });

  it('refuses meter options beside a meter', () => {
    assert.throws(
      () => createDegrader({ meter: new PressureMeter(), halfLife: 10 }),
      (e: unknown) => isConfigError(e) && e.option === 'halfLife',
    );
    assert.throws(() => createDegrader({ meter: {} as PressureMeter }), isConfigError);
  });
});

describe('degrader: the policy form', () => {
  const setupAt = (score: number) => {
    const { clock, degrader } = setup({ interval: 400 });
    clock.advance(100);
    degrader.update(score);
    return degrader;
  };

  it('admits every priority at the normal level', async () => {
    const policy = setupAt(0).policy();
    assert.equal(policy.name, 'degrader');
    for (const priority of ['critical', 'high', 'normal', 'low', 'sheddable']) {
      assert.equal(await policy.execute(() => priority, { priority }), priority);
    }
  });

  it('sheds only sheddable calls at the elevated level', async () => {
    const policy = setupAt(0.6).policy();
    assert.equal(await policy.execute(() => 1, { priority: 'low' }), 1);
    await assert.rejects(
      policy.execute(() => 1, { priority: 'sheddable' }),
      isRejectedError,
    );
  });

  it('admits only critical calls at the critical level, rejecting before the work starts', async () => {
    const policy = setupAt(0.9).policy();
    assert.equal(await policy.execute(() => 1, { priority: 'critical' }), 1);
    let ran = false;
    const error = await policy
      .execute(
        () => {
          ran = true;
        },
        { priority: 'high' },
      )
      .catch((e: unknown) => e);
    assert.equal(ran, false);
    assert.ok(isRejectedError(error));
    assert.equal(error.reason, 'shed');
    assert.equal(error.priority, 1);
    assert.equal(error.retryAfterMs, 400);
    assert.match(error.message, /shed a "high" call at critical pressure/);
    await assert.rejects(
      policy.execute(() => 1),
      isRejectedError,
      'no priority is "normal"',
    );
  });

  it('takes what each level admits from its options', async () => {
    const policy = setupAt(0.9).policy({ priorities: 3, elevated: 2, critical: 1 });
    assert.equal(await policy.execute(() => 1, { priority: 1 }), 1);
    await assert.rejects(
      policy.execute(() => 1, { priority: 2 }),
      isRejectedError,
    );
    assert.throws(() => setupAt(0).policy({ elevated: 'high', critical: 'low' }), isConfigError);
  });

  it('turns a throwing work function into a rejection', async () => {
    const policy = setupAt(0).policy();
    await assert.rejects(
      policy.execute(() => {
        throw new Error('sync');
      }),
      /sync/,
    );
  });
});

describe('degrader: options', () => {
  for (const [option, value] of [
    ['interval', 0],
    ['source', 5],
    ['name', ''],
    ['halfLife', -1],
    ['elevated', { enter: 0.3, exit: 0.4 }],
  ] as const) {
    it(`refuses ${option} = ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => createDegrader({ [option]: value } as DegraderOptions),
        (e: unknown) => isConfigError(e) && e.option.startsWith(option),
      );
    });
  }
});
