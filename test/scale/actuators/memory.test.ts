import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { systemClock } from '../../../src/core/clock.ts';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { memoryActuator } from '../../../src/scale/actuators/memory.ts';
import type { Actuator } from '../../../src/scale/types.ts';

describe('memoryActuator', () => {
  it('starts with every replica ready', () => {
    const actuator = memoryActuator({ replicas: 3, clock: new VirtualClock() });
    assert.deepEqual(actuator.capacity(), { desired: 3, ready: 3 });
    assert.equal(actuator.name, 'memory');
  });

  it('makes new replicas ready after the start-up delay', () => {
    const clock = new VirtualClock();
    const actuator = memoryActuator({ replicas: 2, startupMs: 30_000, clock });
    actuator.scale(5);
    assert.deepEqual(actuator.capacity(), { desired: 5, ready: 2 });
    clock.advance(29_999);
    assert.equal(actuator.ready, 2);
    clock.advance(1);
    assert.deepEqual(actuator.capacity(), { desired: 5, ready: 5 });
    assert.equal(clock.pending, 0);
  });

  it('counts each scale-up from its own request', () => {
    const clock = new VirtualClock();
    const actuator = memoryActuator({ replicas: 1, startupMs: 100, clock });
    actuator.scale(2);
    clock.advance(50);
    actuator.scale(4);
    clock.advance(50);
    assert.deepEqual(actuator.capacity(), { desired: 4, ready: 2 });
    clock.advance(50);
    assert.deepEqual(actuator.capacity(), { desired: 4, ready: 4 });
  });

  it('removes starting replicas before ready ones on a scale-down', () => {
    const clock = new VirtualClock();
    const actuator = memoryActuator({ replicas: 3, startupMs: 100, clock });
    actuator.scale(6);
    actuator.scale(4);
    assert.deepEqual(actuator.capacity(), { desired: 4, ready: 3 });
    actuator.scale(2);
    assert.deepEqual(actuator.capacity(), { desired: 2, ready: 2 });
    assert.equal(clock.pending, 0, 'the cancelled start-ups left no timer');
    clock.advance(100);
    assert.deepEqual(actuator.capacity(), { desired: 2, ready: 2 });
  });

  it('is ready at once with no start-up delay', () => {
    const actuator = memoryActuator({ replicas: 0, clock: new VirtualClock() });
    actuator.scale(4);
    assert.deepEqual(actuator.capacity(), { desired: 4, ready: 4 });
  });

  it('records the calls to scale with their clock time', () => {
    const clock = new VirtualClock(1000);
    const actuator = memoryActuator({ replicas: 1, clock });
    actuator.scale(3);
    clock.advance(15_000);
    actuator.scale(2);
    assert.deepEqual(actuator.history, [
      { at: 1000, replicas: 3 },
      { at: 16_000, replicas: 2 },
    ]);
  });

  it('drops its timers on close', () => {
    const clock = new VirtualClock();
    const actuator = memoryActuator({ replicas: 1, startupMs: 100, clock });
    actuator.scale(3);
    actuator.close();
    assert.equal(clock.pending, 0);
  });

  it('fits the Actuator contract', async () => {
    const actuator: Actuator = memoryActuator({ replicas: 2, clock: systemClock });
    const signal = new AbortController().signal;
    await actuator.scale(3, signal);
    assert.deepEqual(await actuator.capacity(signal), { desired: 3, ready: 3 });
  });

  it('rejects invalid options and counts, naming the option', () => {
    const clock = new VirtualClock();
    const bad: [unknown, string][] = [
      [{ replicas: -1, clock }, 'replicas'],
      [{ replicas: 1.5, clock }, 'replicas'],
      [{ replicas: 1, startupMs: -5, clock }, 'startupMs'],
      [{ replicas: 1 }, 'clock'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => memoryActuator(options as never),
        (e) => isConfigError(e) && e.option === option,
      );
    }
    const actuator = memoryActuator({ replicas: 1, clock });
    assert.throws(
      () => actuator.scale(-1),
      (e) => isConfigError(e) && e.option === 'replicas',
    );
  });

  it('always reports the last count asked for, never more ready than asked, all ready a start-up after', () => {
    const step = fc.oneof(
      fc.record({ scale: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ advance: fc.integer({ min: 0, max: 300 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(step, { maxLength: 40 }), (initial, steps) => {
        const clock = new VirtualClock();
        const actuator = memoryActuator({ replicas: initial, startupMs: 100, clock });
        let desired = initial;
        let lastUp = -Infinity;
        for (const s of steps) {
          if ('scale' in s) {
            if (s.scale > desired) lastUp = clock.now();
            desired = s.scale;
            actuator.scale(s.scale);
          } else clock.advance(s.advance);
          const { desired: d, ready } = actuator.capacity();
          assert.equal(d, desired);
          assert.ok(ready >= 0 && ready <= d, `ready ${ready} of ${d}`);
          if (clock.now() >= lastUp + 100) assert.equal(ready, d);
        }
      }),
    );
  });
});
