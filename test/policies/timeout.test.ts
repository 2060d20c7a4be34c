import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { classifyError } from '../../src/limiter/classify.ts';
import type { CallContext } from '../../src/policies/policy.ts';
import { createTimeout, isTimeoutError, TimeoutError } from '../../src/policies/timeout.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

/** Work that settles only when told to, recording the context it was given. */
function controllable<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const seen: CallContext[] = [];
  const fn = (context: CallContext) => {
    seen.push(context);
    return promise;
  };
  return { fn, resolve, reject, seen };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('timeout', () => {
  it('returns the result of work that finishes in time, releasing its timer', async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const work = controllable<string>();
    const result = timeout.execute(work.fn);
    await clock.advanceAsync(99);
    work.resolve('done');
    assert.equal(await result, 'done');
    assert.equal(work.seen[0]!.signal!.aborted, false);
  });

  it('rejects with a TimeoutError and aborts the signal when the work runs over', async () => {
    const timeout = createTimeout({ name: 'db', timeout: 100, clock });
    const work = controllable<string>();
    const result = caught(timeout.execute(work.fn));
    await clock.advanceAsync(100);
    const error = await result;
    assert.ok(isTimeoutError(error));
    assert.ok(error instanceof TimeoutError);
    assert.equal(error.name, 'TimeoutError');
    assert.equal(error.code, 'SLUICE_TIMEOUT');
    assert.equal(error.timeoutMs, 100);
    assert.equal(error.source, 'timeout');
    assert.match(error.message, /timed out after 100 ms \(policy "db"\)/);
    const signal = work.seen[0]!.signal!;
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, error);
    work.reject(new Error('late failure is absorbed'));
  });

  it('is classified as a drop by the limiter', () => {
    assert.equal(
      classifyError(new TimeoutError({ policy: 't', timeoutMs: 1, source: 'timeout' })),
      'dropped',
    );
  });

  it("passes down the tighter deadline: the caller's when it comes first", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const work = controllable<void>();
    clock.advance(10);
    const result = caught(timeout.execute(work.fn, { deadline: 50, attempt: 2, priority: 'high' }));
    const context = work.seen[0]!;
    assert.equal(context.deadline, 50);
    assert.equal(context.attempt, 2);
    assert.equal(context.priority, 'high');
    await clock.advanceAsync(40);
    const error = await result;
    assert.ok(isTimeoutError(error));
    assert.equal(error.source, 'deadline');
    assert.equal(error.timeoutMs, 40);
  });

  it("passes down its own deadline when the caller's is later", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const work = controllable<number>();
    const result = timeout.execute(work.fn, { deadline: 5000 });
    assert.equal(work.seen[0]!.deadline, 100);
    work.resolve(1);
    assert.equal(await result, 1);
  });

  it('rejects without running the work when the deadline has already passed', async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    clock.advance(10);
    let ran = false;
    const error = await caught(timeout.execute(() => (ran = true), { deadline: 10 }));
    assert.ok(isTimeoutError(error));
    assert.equal(error.source, 'deadline');
    assert.equal(ran, false);
  });

  it("rejects with the caller's reason as soon as the caller aborts, and leaves no listener", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const caller = new AbortController();
    const work = controllable<void>();
    const result = caught(timeout.execute(work.fn, { signal: caller.signal }));
    assert.equal(getEventListeners(caller.signal, 'abort').length, 1);
    const reason = new Error('stop');
    caller.abort(reason);
    assert.equal(await result, reason);
    assert.equal(work.seen[0]!.signal!.reason, reason);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it("does not run the work when the caller's signal is already aborted", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    let ran = false;
    assert.equal(
      await caught(timeout.execute(() => (ran = true), { signal: AbortSignal.abort('no') })),
      'no',
    );
    assert.equal(ran, false);
  });

  it("detaches from the caller's signal in every outcome", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const caller = new AbortController();
    await timeout.execute(() => 1, { signal: caller.signal });
    await caught(
      timeout.execute(
        () => {
          throw new Error('sync');
        },
        { signal: caller.signal },
      ),
    );
    await caught(timeout.execute(() => Promise.reject(new Error('async')), { signal: caller.signal }));
    const pending = caught(timeout.execute(() => new Promise(() => {}), { signal: caller.signal }));
    await clock.advanceAsync(100);
    assert.ok(isTimeoutError(await pending));
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it("passes the work's own error through", async () => {
    const timeout = createTimeout({ timeout: 100, clock });
    const boom = new Error('boom');
    assert.equal(await caught(timeout.execute(() => Promise.reject(boom))), boom);
  });

  it('with an infinite timeout and no deadline, runs the work as it is', async () => {
    const timeout = createTimeout({ timeout: Number.POSITIVE_INFINITY, clock });
    const work = controllable<number>();
    const result = timeout.execute(work.fn);
    assert.equal(work.seen[0]!.signal, undefined);
    assert.equal(work.seen[0]!.deadline, undefined);
    work.resolve(3);
    assert.equal(await result, 3);
  });

  it('emits a timeout event', async () => {
    const timeout = createTimeout({ timeout: 30, clock });
    const events: unknown[] = [];
    const off = timeout.on('timeout', (e) => events.push(e));
    const result = caught(timeout.execute(() => new Promise(() => {})));
    await clock.advanceAsync(30);
    await result;
    off();
    assert.deepEqual(events, [{ policy: 'timeout', at: 30, timeoutMs: 30, source: 'timeout' }]);
  });

  it('rejects a timeout that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, '10', undefined]) {
      assert.throws(() => createTimeout({ timeout: bad as number, clock }), isConfigError);
    }
  });
});
