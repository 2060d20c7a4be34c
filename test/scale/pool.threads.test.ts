import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  createPool,
  isWorkerCrashedError,
  type Pool,
  type PoolEvents,
  type ThreadPoolOptions,
  type WorkerCrashedError,
} from '../../src/scale/pool/index.ts';
import type { PoolTask } from '../fixtures/pool-worker.ts';

// Real threads: each test starts at most three, and closes its pool.
const module = new URL('../fixtures/pool-worker.ts', import.meta.url);
const never = new AbortController().signal;

function threads(options: Partial<ThreadPoolOptions> = {}): Pool<PoolTask, unknown> {
  return createPool<PoolTask, unknown>({ min: 1, max: 3, ...options, worker: { module, ...options.worker } });
}

/** Resolves once `pool` has emitted `count` events `name`, with them. */
function next<K extends keyof PoolEvents & string>(pool: Pool<never, unknown>, name: K, count = 1) {
  const seen: PoolEvents[K][] = [];
  return new Promise<PoolEvents[K][]>((resolve) => {
    const off = pool.on(name, (event) => {
      seen.push(event);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

function settled<T>(promise: Promise<T>) {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

describe('worker threads', { timeout: 20_000 }, () => {
  it('count as starting until their module loaded, then as ready', async () => {
    const pool = threads({ size: 2, worker: { module, workerData: { region: 'eu' } } });
    const ready = next(pool, 'ready', 2);
    assert.deepEqual(pool.actuator.capacity(never), { desired: 2, ready: 0 });
    assert.equal(pool.snapshot().starting, 2);
    const events = await ready;
    assert.ok(events.every((e) => e.startupMs >= 0));
    assert.deepEqual(pool.actuator.capacity(never), { desired: 2, ready: 2 });
    assert.equal(await pool.submit({ op: 'square', n: 7 }), 49);
    const { workerData } = (await pool.submit({ op: 'whoami' })) as { workerData: unknown };
    assert.deepEqual(workerData, { region: 'eu' });
    await pool.close();
  });

  it('queue tasks submitted while they start', async () => {
    const pool = threads({ size: 1, worker: { module, export: 'increment' } });
    assert.equal(await (pool as unknown as Pool<number, number>).submit(41), 42);
    await pool.close();
  });

  it('reject only the task whose handler throws, with its error type and message', async () => {
    const pool = threads();
    const failed = await settled(pool.submit({ op: 'throw', message: 'bad input' }));
    assert.equal(failed.ok, false);
    assert.ok(!failed.ok && failed.error instanceof RangeError);
    assert.equal((failed as { error: Error }).error.message, 'bad input');
    assert.equal(await pool.submit({ op: 'square', n: 3 }), 9);
    await pool.close();
  });

  it('reject a task whose payload or result cannot be cloned, and keep the thread', async () => {
    const pool = threads();
    const crashes: unknown[] = [];
    pool.on('crash', (e) => crashes.push(e));
    const payload = await settled(pool.submit({ op: 'square', n: (() => 2) as unknown as number }));
    assert.equal(payload.ok, false);
    const result = await settled(pool.submit({ op: 'unclonable' }));
    assert.equal(result.ok, false);
    assert.match((result as { error: Error }).error.message, /cannot be sent back/);
    assert.equal(await pool.submit({ op: 'square', n: 4 }), 16);
    assert.deepEqual(crashes, []);
    await pool.close();
  });

  it('replace a thread that dies under its task, failing that task only', async () => {
    const pool = threads({ size: 2 });
    const crashes = next(pool, 'crash', 2);
    const squares = [1, 2, 3, 4, 5, 6].map((n) => pool.submit({ op: 'square', n }));
    const crash = settled(pool.submit({ op: 'crash' }));
    const exit = settled(pool.submit({ op: 'exit', code: 3 }));
    assert.deepEqual(await Promise.all(squares), [1, 4, 9, 16, 25, 36]);
    const [crashed, exited] = await Promise.all([crash, exit]);
    assert.ok(!crashed.ok && isWorkerCrashedError(crashed.error));
    assert.match((crashed as { error: Error }).error.message, /worker blew up/);
    assert.ok(!exited.ok && isWorkerCrashedError(exited.error));
    assert.equal((exited as { error: WorkerCrashedError }).error.exitCode, 3);
    const events = await crashes;
    assert.deepEqual(
      events.map((e) => [e.phase, e.restartInMs]),
      [
        ['task', 0],
        ['task', 0],
      ],
    );
    // Replacements take the place of the dead.
    assert.equal(pool.snapshot().starting + pool.snapshot().ready, 2);
    assert.equal(await pool.submit({ op: 'square', n: 8 }), 64);
    await pool.close();
  });

  it('shrink under load without losing or repeating a task', async () => {
    const pool = threads({ size: 3 });
    await next(pool, 'ready', 3);
    const retired = next(pool, 'retire', 2);
    const results = Array.from({ length: 9 }, (_, n) => pool.submit({ op: 'wait', ms: 20, n }));
    pool.resize(1);
    assert.equal(pool.snapshot().retiring, 2);
    assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(
      (await retired).map((e) => e.reason),
      ['drained', 'drained'],
    );
    assert.deepEqual(pool.actuator.capacity(never), { desired: 1, ready: 1 });
    await pool.close();
  });

  it('retry a module that fails to load, with a growing back-off on the pool clock', async () => {
    const clock = new VirtualClock();
    const pool = threads({ clock, worker: { module: new URL('./no-such-module.js', module) } });
    const first = (await next(pool, 'crash'))[0]!;
    assert.equal(first.phase, 'start');
    assert.equal(first.restartInMs, 100);
    assert.match(String(first.error), /no-such-module/);
    assert.deepEqual(pool.actuator.capacity(never), { desired: 1, ready: 0 });
    assert.equal(pool.snapshot().starting, 0);
    const second = next(pool, 'crash');
    clock.advance(100);
    assert.equal(pool.snapshot().starting, 1);
    assert.equal((await second)[0]!.restartInMs, 200);
    await pool.close({ drain: false });
  });

  it('fail the start of a module without the handler export', async () => {
    const pool = threads({ clock: new VirtualClock(), worker: { module, export: 'missing' } });
    const [crash] = await next(pool, 'crash');
    assert.equal(crash!.phase, 'start');
    assert.match(String(crash!.error), /no function export "missing"/);
    await pool.close({ drain: false });
  });

  it('fail the start of a thread that does not load within startTimeout', async () => {
    const clock = new VirtualClock();
    const pool = threads({ clock, worker: { module, startTimeout: 1000 } });
    const crashes: PoolEvents['crash'][] = [];
    pool.on('crash', (e) => crashes.push(e));
    clock.advance(1000);
    assert.equal(crashes.length, 1);
    assert.match(String(crashes[0]!.error), /did not load .* within 1000 ms/);
    await pool.close({ drain: false });
  });

  it('terminate the threads on close', async () => {
    const pool = threads({ size: 2 });
    await next(pool, 'ready', 2);
    const retired = next(pool, 'retire', 2);
    const result = pool.submit({ op: 'wait', ms: 10, n: 5 });
    await pool.close();
    assert.equal(await result, 5);
    assert.deepEqual(
      (await retired).map((e) => e.reason),
      ['close', 'close'],
    );
    assert.equal(pool.snapshot().state, 'closed');
  });

  it('run every task exactly once while resized at random under load (property, few runs)', async () => {
    type Step =
      | { readonly kind: 'submit'; readonly ms: number }
      | { readonly kind: 'resize'; readonly size: number }
      | { readonly kind: 'pause'; readonly ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({ kind: fc.constant('submit' as const), ms: fc.integer({ min: 0, max: 5 }) }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant('resize' as const), size: fc.integer({ min: 0, max: 3 }) }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 10 }) }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 24 }), async (steps) => {
        const counters = new SharedArrayBuffer(4 * steps.length);
        const pool = threads({ min: 0, max: 3, size: 1, worker: { module, workerData: { counters } } });
        const results: Promise<unknown>[] = [];
        for (const s of steps) {
          if (s.kind === 'submit')
            results.push(pool.submit({ op: 'count', index: results.length, ms: s.ms }));
          else if (s.kind === 'resize') pool.resize(s.size);
          else await new Promise((resolve) => setTimeout(resolve, s.ms));
          assert.ok(pool.snapshot().busy - pool.snapshot().retiring <= pool.size);
        }
        await pool.close();
        assert.deepEqual(
          await Promise.all(results),
          results.map((_, i) => i),
        );
        const runs = new Int32Array(counters).slice(0, results.length);
        assert.deepEqual([...runs], new Array(results.length).fill(1));
      }),
      { numRuns: 6 },
    );
  });
});
