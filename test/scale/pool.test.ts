import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { sleep } from '../../src/core/clock.ts';
import { isConfigError, isRejectedError, type RejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type AsyncPoolOptions,
  createPool,
  isPoolClosedError,
  type PoolClosedError,
  type PoolEvents,
  type Task,
  type TaskContext,
  type TaskPool,
  type ThreadPoolOptions,
} from '../../src/scale/pool/index.ts';

const never = new AbortController().signal;

/** Settles `promise` into a plain record, so a test can assert on it without an unhandled rejection. */
function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => {
      state.done = true;
      state.value = value;
    },
    (error: unknown) => {
      state.done = true;
      state.error = error;
    },
  );
  return state;
}

/** A task that runs until the test calls `finish` (or `fail`), recording when and where it ran. */
function gated<T = string>(value: T) {
  const gate = Promise.withResolvers<T>();
  const run = { starts: 0, worker: 0, signal: undefined as AbortSignal | undefined };
  const task: Task<T> = (context: TaskContext) => {
    run.starts++;
    run.worker = context.worker;
    run.signal = context.signal;
    return gate.promise;
  };
  return { task, run, finish: () => gate.resolve(value), fail: (error: Error) => gate.reject(error) };
}

/** A task that takes `ms` on `clock`. */
function timed(clock: VirtualClock, ms: number, log?: string[], name?: string): Task<string> {
  return async () => {
    log?.push(`start ${name}`);
    await sleep(clock, ms);
    return name ?? 'done';
  };
}

function taskPool(options: Omit<AsyncPoolOptions<never, never>, 'run' | 'worker' | 'clock'> = {}) {
  const clock = new VirtualClock();
  const pool = createPool({ clock, min: 0, max: 8, ...options });
  return { clock, pool };
}

function events<K extends keyof PoolEvents & string>(pool: { readonly on: TaskPool['on'] }, name: K) {
  const seen: PoolEvents[K][] = [];
  pool.on(name, (event) => seen.push(event));
  return seen;
}

describe('createPool options', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ min: -1 }, 'min'],
    [{ min: 1.5 }, 'min'],
    [{ max: 0 }, 'max'],
    [{ min: 4, max: 3 }, 'max'],
    [{ min: 1, max: 3, size: 4 }, 'size'],
    [{ min: 2, max: 3, size: 1 }, 'size'],
    [{ queue: { size: -1 } }, 'queue.size'],
    [{ queue: { size: 2.5 } }, 'queue.size'],
    [{ queue: { timeout: 0 } }, 'queue.timeout'],
    [{ queue: { timeout: Number.NaN } }, 'queue.timeout'],
    [{ queue: 5 }, 'queue'],
    [{ window: 0 }, 'window'],
    [{ name: '' }, 'name'],
    [{ run: 'not a function' }, 'run'],
    [{ clock: {} }, 'clock'],
    [{ run: () => 1, worker: { module: 'x.js' } }, 'run'],
    [{ worker: 'x.js' }, 'worker'],
    [{ worker: { module: '' } }, 'worker.module'],
    [{ worker: { module: 42 } }, 'worker.module'],
    [{ worker: { module: 'x.js', export: '' } }, 'worker.export'],
    [{ worker: { module: 'x.js', startTimeout: 0 } }, 'worker.startTimeout'],
    [{ worker: { module: 'x.js', resourceLimits: 'big' } }, 'worker.resourceLimits'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => createPool({ clock: new VirtualClock(), ...options } as unknown as ThreadPoolOptions),
        (error) => isConfigError(error) && error.option === option && error.message.includes(option),
      );
    });
  }

  it('rejects options that are not an object', () => {
    assert.throws(
      () => createPool(null as unknown as ThreadPoolOptions),
      (error) => isConfigError(error) && error.option === 'options',
    );
  });

  it('defaults to one worker of at most ten, a pool named "pool", started ready', () => {
    const pool = createPool({ clock: new VirtualClock() });
    assert.equal(pool.name, 'pool');
    assert.equal(pool.kind, 'async');
    assert.equal(pool.min, 1);
    assert.equal(pool.max, 10);
    assert.equal(pool.size, 1);
    assert.deepEqual(pool.actuator.capacity(never), { desired: 1, ready: 1 });
    assert.equal(pool.collector.name, 'pool');
    assert.equal(pool.actuator.name, 'pool');
  });

  it('starts with `size` workers and lets `max` default to at least `min`', () => {
    const pool = createPool({ clock: new VirtualClock(), min: 12, size: 12 });
    assert.equal(pool.max, 12);
    assert.equal(pool.snapshot().ready, 12);
  });
});

describe('async workers', () => {
  it('run at most `size` tasks at once, the rest in submission order', async () => {
    const { clock, pool } = taskPool({ size: 2 });
    const log: string[] = [];
    const results = ['a', 'b', 'c', 'd'].map((name) => track(pool.submit(timed(clock, 100, log, name))));
    assert.deepEqual(log, ['start a', 'start b']);
    assert.deepEqual(pool.snapshot(), {
      size: 2,
      starting: 0,
      ready: 2,
      idle: 0,
      busy: 2,
      retiring: 0,
      queued: 2,
      oldestWaitMs: 0,
      state: 'open',
    });
    await clock.advanceAsync(100);
    assert.deepEqual(log, ['start a', 'start b', 'start c', 'start d']);
    await clock.advanceAsync(100);
    assert.deepEqual(
      results.map((r) => r.value),
      ['a', 'b', 'c', 'd'],
    );
  });

  it('serve lower priority values first, in submission order within a priority', async () => {
    const { pool } = taskPool({ size: 1 });
    const order: string[] = [];
    const first = gated('first');
    pool.submit(first.task);
    const names: [string, number][] = [
      ['low-1', 5],
      ['urgent-1', -1],
      ['normal-1', 0],
      ['urgent-2', -1],
      ['low-2', 5],
      ['normal-2', 0],
    ];
    const done = names.map(([name, priority]) => pool.submit(async () => order.push(name), { priority }));
    first.finish();
    await Promise.all(done);
    assert.deepEqual(order, ['urgent-1', 'urgent-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
  });

  it('apply the `run` handler to each payload, with the worker id and a signal', async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    const pool = createPool({
      clock,
      min: 2,
      run: (n: number, context) => {
        seen.push(context.worker);
        assert.equal(context.signal.aborted, false);
        return n * 2;
      },
    });
    assert.deepEqual(await Promise.all([pool.submit(1), pool.submit(2), pool.submit(3)]), [2, 4, 6]);
    assert.ok(seen.every((id) => id === 1 || id === 2));
  });

  it('reject only the task that failed, sync or async, and go on', async () => {
    const { pool } = taskPool({ size: 1 });
    const sync = track(
      pool.submit(() => {
        throw new Error('sync');
      }),
    );
    const async = track(pool.submit(async () => Promise.reject(new Error('async'))));
    const ok = track(pool.submit(() => 'ok'));
    await flushMicrotasks();
    assert.equal((sync.error as Error).message, 'sync');
    assert.equal((async.error as Error).message, 'async');
    assert.equal(ok.value, 'ok');
    assert.equal(pool.snapshot().idle, 1);
  });

  it('refuse a task when the queue is full, with reason "queue-full" and a retry hint', async () => {
    const { clock, pool } = taskPool({ size: 2, queue: { size: 1 } });
    const rejects = events(pool, 'reject');
    // One finished task teaches the pool its service time (100 ms).
    await Promise.all([pool.submit(timed(clock, 100)), clock.advanceAsync(100)]);
    pool.submit(gated('').task);
    pool.submit(gated('').task);
    pool.submit(gated('').task);
    const refused = track(pool.submit(gated('').task, { priority: 3 }));
    await flushMicrotasks();
    const error = refused.error as RejectedError;
    assert.ok(isRejectedError(error));
    assert.equal(error.reason, 'queue-full');
    assert.equal(error.code, 'SLUICE_QUEUE_FULL');
    assert.equal(error.queued, 1);
    assert.equal(error.inflight, 2);
    assert.equal(error.limit, 2);
    assert.equal(error.priority, 3);
    // Two tasks ahead of it (the queued one and itself) through two workers at 100 ms each.
    assert.equal(error.retryAfterMs, 100);
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0]!.error, error);
  });

  it('with a queue of size 0, run a task only when a worker is free', async () => {
    const { pool } = taskPool({ size: 1, queue: { size: 0 } });
    const running = gated('x');
    const accepted = track(pool.submit(running.task));
    const refused = track(pool.submit(() => 'no'));
    await flushMicrotasks();
    assert.equal((refused.error as RejectedError).reason, 'queue-full');
    running.finish();
    await flushMicrotasks();
    assert.equal(accepted.value, 'x');
  });

  it('reject a queued task whose signal aborts, and never run it', async () => {
    const { pool } = taskPool({ size: 1 });
    const first = gated('first');
    pool.submit(first.task);
    const controller = new AbortController();
    const later = gated('later');
    const aborted = track(pool.submit(later.task, { signal: controller.signal }));
    controller.abort();
    await flushMicrotasks();
    assert.equal((aborted.error as RejectedError).reason, 'aborted');
    assert.equal(pool.snapshot().queued, 0);
    first.finish();
    await flushMicrotasks();
    assert.equal(later.run.starts, 0);
  });

  it('reject at once a task whose signal is already aborted', async () => {
    const { pool } = taskPool({ size: 1 });
    const task = gated('x');
    const result = track(pool.submit(task.task, { signal: AbortSignal.abort() }));
    await flushMicrotasks();
    assert.equal((result.error as RejectedError).reason, 'aborted');
    assert.equal(task.run.starts, 0);
  });

  it('pass the caller signal on to a running task', async () => {
    const { pool } = taskPool({ size: 1 });
    const controller = new AbortController();
    const task = gated('x');
    pool.submit(task.task, { signal: controller.signal });
    controller.abort();
    assert.equal(task.run.signal?.aborted, true);
    task.finish();
  });

  it('refuse a task that waited longer than queue.timeout', async () => {
    const { clock, pool } = taskPool({ size: 1, queue: { timeout: 50 } });
    pool.submit(timed(clock, 200));
    const late = track(pool.submit(() => 'late'));
    await clock.advanceAsync(49);
    assert.equal(late.done, false);
    await clock.advanceAsync(1);
    const error = late.error as RejectedError;
    assert.equal(error.reason, 'queue-timeout');
    assert.equal(error.waitedMs, 50);
  });

  it('throw a RangeError for a priority that is not finite', () => {
    const { pool } = taskPool({ size: 1 });
    assert.throws(() => pool.submit(() => 1, { priority: Number.NaN }), RangeError);
  });
});

describe('resize', () => {
  it('clamps to [min, max] and throws a RangeError for a size that is not an integer', () => {
    const { pool } = taskPool({ min: 1, max: 4 });
    assert.equal(pool.resize(9), 4);
    assert.equal(pool.resize(-3), 1);
    assert.equal(pool.resize(Number.POSITIVE_INFINITY), 4);
    assert.throws(() => pool.resize(2.5), RangeError);
    assert.throws(() => pool.resize(Number.NaN), RangeError);
  });

  it('grows at once: queued tasks start on the new workers', async () => {
    const { clock, pool } = taskPool({ size: 1 });
    const log: string[] = [];
    for (const name of ['a', 'b', 'c']) pool.submit(timed(clock, 100, log, name));
    assert.deepEqual(log, ['start a']);
    pool.resize(3);
    assert.deepEqual(log, ['start a', 'start b', 'start c']);
    assert.deepEqual(pool.actuator.capacity(never), { desired: 3, ready: 3 });
  });

  it('stops idle workers at once and retires busy ones only after their task', async () => {
    const { pool } = taskPool({ size: 4 });
    const retired = events(pool, 'retire');
    const resized = events(pool, 'resize');
    const a = gated('a');
    const b = gated('b');
    const c = gated('c');
    const results = [a, b, c].map((t) => track(pool.submit(t.task)));
    const waiting = gated('d');
    pool.resize(1);
    // One idle worker stopped; two of the three busy ones marked to leave.
    assert.deepEqual(
      retired.map((e) => e.reason),
      ['idle'],
    );
    assert.deepEqual(
      { ...resized[0]!, at: 0 },
      {
        pool: 'pool',
        at: 0,
        previous: 4,
        size: 1,
        requested: 1,
        started: 0,
        unretired: 0,
        retired: 1,
        draining: 2,
      },
    );
    assert.deepEqual(pool.snapshot(), {
      size: 1,
      starting: 0,
      ready: 1,
      idle: 0,
      busy: 3,
      retiring: 2,
      queued: 0,
      oldestWaitMs: 0,
      state: 'open',
    });
    const queued = track(pool.submit(waiting.task));
    // Whichever finishes first, the queued task goes only to the worker that stays.
    for (const t of [a, b, c]) {
      t.finish();
      await flushMicrotasks();
    }
    assert.deepEqual(
      results.map((r) => r.value),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      retired.map((e) => e.reason),
      ['idle', 'drained', 'drained'],
    );
    assert.equal(waiting.run.starts, 1);
    assert.ok(!retired.some((e) => e.worker === waiting.run.worker));
    waiting.finish();
    await flushMicrotasks();
    assert.equal(queued.value, 'd');
    assert.deepEqual(pool.actuator.capacity(never), { desired: 1, ready: 1 });
  });

  it('keeps workers marked to retire, rather than starting new ones, when it grows again', async () => {
    const { pool } = taskPool({ size: 3 });
    const tasks = [gated('a'), gated('b'), gated('c')];
    for (const t of tasks) pool.submit(t.task);
    const workers = tasks.map((t) => t.run.worker).sort();
    pool.resize(1);
    assert.equal(pool.snapshot().retiring, 2);
    const resized = events(pool, 'resize');
    pool.resize(3);
    assert.deepEqual(
      { started: resized[0]!.started, unretired: resized[0]!.unretired },
      { started: 0, unretired: 2 },
    );
    assert.equal(pool.snapshot().retiring, 0);
    for (const t of tasks) t.finish();
    await flushMicrotasks();
    const next = [gated('d'), gated('e'), gated('f')];
    for (const t of next) pool.submit(t.task);
    assert.deepEqual(next.map((t) => t.run.worker).sort(), workers);
  });

  it('stops starting workers before idle ones, and idle ones before busy ones', async () => {
    const { pool } = taskPool({ size: 3 });
    const retired = events(pool, 'retire');
    const busy = gated('x');
    pool.submit(busy.task);
    pool.resize(1);
    assert.deepEqual(
      retired.map((e) => e.reason),
      ['idle', 'idle'],
    );
    assert.equal(pool.snapshot().busy, 1);
    assert.equal(pool.snapshot().retiring, 0);
    busy.finish();
  });

  it('is what the actuator does, and the actuator reports desired and ready workers', async () => {
    const { pool } = taskPool({ min: 1, max: 5 });
    await pool.actuator.scale(4, never);
    assert.equal(pool.size, 4);
    assert.deepEqual(await pool.actuator.capacity(never), { desired: 4, ready: 4 });
    await pool.actuator.scale(50, never);
    assert.deepEqual(await pool.actuator.capacity(never), { desired: 5, ready: 5 });
    assert.equal(pool.actuator.close, undefined);
  });

  it('publishes on diagnostics_channel sluice:pool:resize', () => {
    const { pool } = taskPool({ size: 1, name: 'images' });
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    subscribe('sluice:pool:resize', listener);
    try {
      pool.resize(2);
    } finally {
      unsubscribe('sluice:pool:resize', listener);
    }
    assert.equal(seen.length, 1);
    assert.equal((seen[0] as PoolEvents['resize']).pool, 'images');
    assert.equal((seen[0] as PoolEvents['resize']).size, 2);
  });
});

describe('close', () => {
  it('drains queued and running tasks, then stops the workers and resolves', async () => {
    const { clock, pool } = taskPool({ size: 1 });
    const retired = events(pool, 'retire');
    const results = ['a', 'b'].map((name) => track(pool.submit(timed(clock, 100, undefined, name))));
    const closed = track(pool.close());
    assert.equal(pool.snapshot().state, 'draining');
    const late = track(pool.submit(() => 'late'));
    await clock.advanceAsync(100);
    assert.equal(closed.done, false);
    await clock.advanceAsync(100);
    assert.deepEqual(
      results.map((r) => r.value),
      ['a', 'b'],
    );
    assert.equal(closed.done, true);
    assert.equal(pool.snapshot().state, 'closed');
    assert.ok(isPoolClosedError(late.error));
    assert.equal((late.error as PoolClosedError).phase, 'submit');
    assert.deepEqual(
      retired.map((e) => e.reason),
      ['close'],
    );
    assert.deepEqual(pool.actuator.capacity(never), { desired: 0, ready: 0 });
  });

  it('with drain false, refuses the queued tasks and waits for the running ones', async () => {
    const { clock, pool } = taskPool({ size: 1 });
    const running = track(pool.submit(timed(clock, 100, undefined, 'running')));
    const queued = track(pool.submit(() => 'queued'));
    const closed = track(pool.close({ drain: false }));
    await flushMicrotasks();
    assert.equal((queued.error as PoolClosedError).phase, 'queued');
    assert.match((queued.error as Error).message, /pool "pool" is closed; the queued task was refused/);
    assert.equal(closed.done, false);
    await clock.advanceAsync(100);
    assert.equal(running.value, 'running');
    assert.equal(closed.done, true);
  });

  it('gives up on running tasks after timeoutMs: rejects them and aborts their signal', async () => {
    const { clock, pool } = taskPool({ size: 1 });
    const stuck = gated('stuck');
    const running = track(pool.submit(stuck.task));
    const queued = track(pool.submit(() => 'queued'));
    const closed = track(pool.close({ timeoutMs: 500 }));
    await clock.advanceAsync(499);
    assert.equal(closed.done, false);
    await clock.advanceAsync(1);
    assert.equal((running.error as PoolClosedError).phase, 'running');
    assert.equal((queued.error as PoolClosedError).phase, 'queued');
    assert.equal(stuck.run.signal?.aborted, true);
    assert.equal(closed.done, true);
    // A late result changes nothing.
    stuck.finish();
    await flushMicrotasks();
    assert.equal((running.error as PoolClosedError).phase, 'running');
  });

  it('drains the queue of a pool scaled to zero', async () => {
    const { pool } = taskPool({ min: 0, size: 0 });
    const queued = track(pool.submit(() => 'ran'));
    await flushMicrotasks();
    assert.equal(queued.done, false);
    await pool.close();
    assert.equal(queued.value, 'ran');
  });

  it('returns the same promise to later calls, and ignores resize once closed', async () => {
    const { pool } = taskPool({ size: 2 });
    const first = pool.close();
    assert.equal(pool.close(), first);
    await first;
    assert.equal(pool.resize(5), 2);
    assert.equal(pool.snapshot().ready, 0);
  });

  it('rejects invalid options naming them', () => {
    const { pool } = taskPool();
    assert.throws(
      () => pool.close({ timeoutMs: -1 }),
      (e) => isConfigError(e) && e.option === 'timeoutMs',
    );
    assert.throws(
      () => pool.close({ drain: 'yes' as unknown as boolean }),
      (e) => isConfigError(e) && e.option === 'drain',
    );
  });
});

describe('collector', () => {
  it('averages utilisation over the time since the previous collect', async () => {
    const { clock, pool } = taskPool({ size: 2 });
    pool.submit(timed(clock, 500));
    pool.submit(timed(clock, 1000));
    await clock.advanceAsync(1000);
    // Busy worker-ms 500 + 1000 out of 2 x 1000 serving.
    assert.equal((await pool.collector.collect(never))['utilisation'], 0.75);
    await clock.advanceAsync(1000);
    assert.equal((await pool.collector.collect(never))['utilisation'], 0);
    pool.submit(gated('').task);
    // No time has passed: the instantaneous ratio.
    assert.equal((await pool.collector.collect(never))['utilisation'], 0.5);
  });

  it('reports the queue, the workers, waiting and service times', async () => {
    const { clock, pool } = taskPool({ size: 1, name: 'io' });
    for (let i = 0; i < 3; i++) pool.submit(timed(clock, 100));
    await clock.advanceAsync(50);
    const during = await pool.collector.collect(never);
    assert.equal(pool.collector.name, 'io');
    assert.deepEqual(
      {
        queued: during['queued'],
        busy: during['busy'],
        size: during['size'],
        ready: during['ready'],
        starting: during['starting'],
        retiring: during['retiring'],
        oldestWaitMs: during['oldestWaitMs'],
      },
      { queued: 2, busy: 1, size: 1, ready: 1, starting: 0, retiring: 0, oldestWaitMs: 50 },
    );
    await clock.advanceAsync(250);
    const after = await pool.collector.collect(never);
    // Waits 0, 100 and 200 ms; each task ran 100 ms.
    assert.equal(after['waitMeanMs'], 100);
    assert.ok(Math.abs(after['waitP99Ms']! - 200) <= 200 * 0.016, `p99 ${after['waitP99Ms']}`);
    assert.equal(after['serviceMeanMs'], 100);
    assert.equal(after['oldestWaitMs'], 0);
    assert.equal(after['queued'], 0);
  });

  it('reports arrival and completion rates per second over the window', async () => {
    const { clock, pool } = taskPool({ size: 1, window: 1000, queue: { size: 2 } });
    // 20 submits over 1 s, every 50 ms; tasks of 100 ms, so about half complete and a few are refused.
    for (let i = 0; i < 20; i++) {
      pool.submit(timed(clock, 100)).catch(() => undefined);
      await clock.advanceAsync(50);
    }
    const readings = await pool.collector.collect(never);
    assert.ok(Math.abs(readings['arrivalRate']! - 20) <= 2, `arrival ${readings['arrivalRate']}`);
    assert.ok(Math.abs(readings['completionRate']! - 10) <= 1.5, `completion ${readings['completionRate']}`);
  });

  it('reports zeros, not NaN, before any task', async () => {
    const { pool } = taskPool({ size: 1 });
    const readings = await pool.collector.collect(never);
    for (const [name, value] of Object.entries(readings)) assert.ok(Number.isFinite(value), name);
  });
});
