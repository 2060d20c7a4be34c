import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleep } from '../../src/core/clock.ts';
import { Engine } from '../../src/sim/engine.ts';

describe('Engine', () => {
  it('runs its events and the clock timers in time order, with the clock timers first at equal times', async () => {
    const engine = new Engine();
    const seen: string[] = [];
    const note = (name: string) => () => seen.push(`${name}@${engine.clock.now()}`);
    engine.at(20, note('e20'));
    engine.clock.setTimer(note('c20'), 20);
    engine.after(5, note('e5'));
    engine.clock.setTimer(note('c10'), 10);
    engine.at(10, note('e10'));
    engine.at(10, note('e10b'));
    await engine.run(100);
    assert.deepEqual(seen, ['e5@5', 'c10@10', 'e10@10', 'e10b@10', 'c20@20', 'e20@20']);
    assert.equal(engine.now, 100);
    assert.equal(engine.events, 6);
  });

  it('runs events scheduled by events, and stops at the horizon', async () => {
    const engine = new Engine();
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      engine.after(10, tick);
    };
    engine.at(0, tick);
    await engine.run(95);
    assert.equal(ticks, 10); // 0, 10, ..., 90
    await engine.run(100);
    assert.equal(ticks, 11);
  });

  it('does not run a cancelled event', async () => {
    const engine = new Engine();
    let ran = false;
    engine.at(5, () => (ran = true)).cancel();
    await engine.run(10);
    assert.equal(ran, false);
  });

  it('delivers a followed promise at the virtual time it settles', async () => {
    const engine = new Engine();
    const at: number[] = [];
    engine.at(10, () => {
      engine.track(
        sleep(engine.clock, 40),
        () => at.push(engine.now),
        () => assert.fail('rejected'),
      );
    });
    engine.at(30, () => at.push(-engine.now));
    engine.at(60, () => at.push(-engine.now));
    await engine.run(100);
    assert.deepEqual(at, [-30, 50, -60]);
  });

  it('lets a continuation chain as deep as settleRounds finish before the next event, and no deeper', async () => {
    // A component whose promise comes from an async function that awaits a timer-driven sleep and then two
    // more promises: four microtask turns from the timer to the simulation's callback.
    const run = async (settleRounds: number): Promise<[number, number][]> => {
      const engine = new Engine({ settleRounds });
      const clock = engine.clock;
      async function deep(): Promise<number> {
        await sleep(clock, 10);
        await null;
        await null;
        return clock.now();
      }
      const got: [number, number][] = [];
      engine.at(0, () =>
        engine.track(
          deep(),
          (settledAt) => got.push([settledAt, engine.now]),
          () => {},
        ),
      );
      engine.at(10.5, () => got.push([-1, engine.now]));
      await engine.run(20);
      return got;
    };
    assert.deepEqual(await run(4), [
      [10, 10],
      [-1, 10.5],
    ]);
    // Too few rounds: the chain completes only after the next event, at that event's time.
    assert.deepEqual(await run(2), [
      [-1, 10.5],
      [10.5, 10.5],
    ]);
  });

  it('delivers rejections to the error callback', async () => {
    const engine = new Engine();
    let error: unknown;
    engine.at(1, () =>
      engine.track(
        Promise.reject(new Error('no')),
        () => {},
        (e) => (error = e),
      ),
    );
    await engine.run(2);
    assert.equal((error as Error).message, 'no');
  });

  it('fails the run with an exception thrown by an event or a continuation', async () => {
    const a = new Engine();
    a.at(1, () => {
      throw new Error('event');
    });
    await assert.rejects(a.run(10), /event/);
    const b = new Engine();
    b.at(1, () =>
      b.track(
        Promise.resolve(1),
        () => {
          throw new Error('continuation');
        },
        () => {},
      ),
    );
    await assert.rejects(b.run(10), /continuation/);
  });

  it('stops when its signal aborts, at a yield to the event loop', async () => {
    const engine = new Engine({ yieldEvery: 100 });
    const tick = (): void => {
      engine.after(1, tick);
    };
    engine.at(0, tick);
    const controller = new AbortController();
    engine.at(500, () => controller.abort(new Error('stop')));
    await assert.rejects(engine.run(1_000_000, { signal: controller.signal }), /stop/);
    assert.ok(engine.now < 1000);
  });

  it('switches error stacks off while it runs, and back on afterwards', async () => {
    const before = Error.stackTraceLimit;
    const engine = new Engine();
    let inside = -1;
    engine.at(1, () => (inside = Error.stackTraceLimit));
    await engine.run(2);
    assert.equal(inside, 0);
    assert.equal(Error.stackTraceLimit, before);
    const keep = new Engine({ errorStacks: true });
    keep.at(1, () => (inside = Error.stackTraceLimit));
    await keep.run(2);
    assert.equal(inside, before);
  });
});
