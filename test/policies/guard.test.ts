import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import type { Outcome } from '../../src/limiter/types.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { isCircuitOpenError } from '../../src/policies/breaker.ts';
import { guard } from '../../src/policies/guard.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from '../../src/policies/policy.ts';
import { createRetryBudget } from '../../src/policies/retry-budget.ts';
import { isTimeoutError } from '../../src/policies/timeout.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

/** An overload answer as an HTTP client would throw it: retryable, a drop for the limiter. */
function unavailable(): Error {
  return Object.assign(new Error('HTTP 503'), { status: 503 });
}

/** The value or the error `promise` settles with, without running time. */
function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Settles `promise` by running virtual time forward by `ms`; returns its value or the error it threw. */
async function settle<T>(promise: Promise<T>, ms = 5_000): Promise<{ value?: T; error?: unknown }> {
  const result = outcome(promise);
  await clock.advanceAsync(ms);
  return result;
}

/** A policy that logs entry and exit and hands the next one a context with its own mark on it. */
function recorder(
  name: string,
  log: string[],
  change: (c: CallContext) => Partial<CallContext> = () => ({}),
) {
  const policy: Policy = {
    name,
    async execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
      log.push(`${name}>`);
      try {
        const context = contextOf(options);
        return await fn({ ...context, ...change(context) });
      } finally {
        log.push(`<${name}`);
      }
    },
  };
  return policy;
}

describe('guard(...policies): composition', () => {
  it('runs the policies outermost first and unwinds them innermost first', async () => {
    const log: string[] = [];
    const g = guard(recorder('a', log), recorder('b', log), recorder('c', log));
    const value = await g.execute(() => {
      log.push('work');
      return 42;
    });
    assert.equal(value, 42);
    assert.deepEqual(log, ['a>', 'b>', 'c>', 'work', '<c', '<b', '<a']);
  });

  it('hands each policy the context the one outside it made', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const seen: CallContext[] = [];
    const g = guard(
      recorder('signal', log, () => ({ signal: controller.signal })),
      recorder('deadline', log, (c) => ({ deadline: 500, attempt: c.attempt + 1 })),
      {
        name: 'spy',
        execute: (fn, options) => {
          seen.push(contextOf(options));
          return Promise.resolve(fn(contextOf(options)));
        },
      },
    );
    await g.execute((context) => seen.push(context), { priority: 'high', attempt: 2 });
    const expected = { signal: controller.signal, deadline: 500, attempt: 3, priority: 'high' };
    assert.deepEqual(seen, [expected, expected]);
  });

  it('with no policies, runs the work with the caller context', async () => {
    const g = guard();
    assert.deepEqual(g.policies, []);
    const context = await g.execute((c) => c, { priority: 'low', deadline: 9 });
    assert.deepEqual(context, { signal: undefined, deadline: 9, attempt: 0, priority: 'low' });
    await assert.rejects(
      g.execute(() => {
        throw new Error('sync');
      }),
      /sync/,
    );
  });

  it('wrap() returns the function guarded, arguments and all', async () => {
    const log: string[] = [];
    const add = guard(recorder('a', log)).wrap((x: number, y: number) => x + y);
    assert.equal(await add(2, 3), 5);
    assert.deepEqual(log, ['a>', '<a']);
  });

  it('rejects an argument that is not a policy', () => {
    const log: string[] = [];
    assert.throws(
      () => guard(recorder('a', log), {} as Policy),
      (e) => isConfigError(e) && e.option === 'policies[1]',
    );
    assert.throws(() => guard(null as unknown as Policy), isConfigError);
  });

  it('property: every policy is entered in order and left in reverse, and the context flows through all', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 8 }), async (steps) => {
        const log: string[] = [];
        const policies = steps.map((step, i) =>
          recorder(`p${i}`, log, (c) => ({ attempt: c.attempt + step })),
        );
        const attempt = await guard(...policies).execute((c) => c.attempt);
        assert.equal(
          attempt,
          steps.reduce((a, b) => a + b, 0),
        );
        const names = policies.map((p) => p.name);
        assert.deepEqual(log, [...names.map((n) => `${n}>`), ...names.reverse().map((n) => `<${n}`)]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('guard(options): the standard guard', () => {
  it('composes retry, breaker, throttle, limiter and timeout, outermost first', () => {
    const g = guard({ clock, throttle: {}, timeout: 100 });
    assert.deepEqual(g.policies, [g.retry, g.breaker, g.throttle, g.limiter, g.timeout]);
    assert.ok(g.policies.every((p) => p !== undefined));
  });

  it('by default builds an adaptive limiter, a breaker and a budgeted retry, and no throttle or timeout', () => {
    const g = guard({ clock, name: 'payments' });
    assert.equal(g.name, 'payments');
    assert.equal(g.policies.length, 3);
    assert.equal(g.breaker?.name, 'payments');
    assert.equal(g.limiter?.limiter.name, 'payments');
    assert.ok(g.retry?.budget !== undefined);
    assert.equal(g.throttle, undefined);
    assert.equal(g.timeout, undefined);
  });

  it('leaves out the parts set to false', () => {
    const g = guard({ clock, retry: false, breaker: false, limiter: false });
    assert.deepEqual(g.policies, []);
  });

  it('sends every retry through the limiter again, releasing the permit during the backoff', async () => {
    const g = guard({
      clock,
      breaker: false,
      limiter: { limit: 1, queue: false },
      retry: { backoff: constantBackoff({ delay: 100 }), budget: false },
    });
    const releases: Outcome[] = [];
    g.limiter?.limiter.on('release', (e) => releases.push(e.outcome));
    let calls = 0;
    const done = outcome(
      g.execute(() => {
        assert.equal(g.limiter?.limiter.inflight, 1);
        if (++calls < 3) throw unavailable();
        return 'ok';
      }),
    );
    await clock.advanceAsync(50);
    assert.equal(g.limiter?.limiter.inflight, 0, 'no permit is held through the backoff');
    await clock.advanceAsync(1000);
    assert.deepEqual(await done, { value: 'ok' });
    assert.deepEqual(releases, ['dropped', 'dropped', 'success']);
  });

  it('never lets a retry past an open breaker', async () => {
    const g = guard({
      clock,
      breaker: { consecutiveFailures: 2 },
      retry: { attempts: 5, backoff: constantBackoff({ delay: 10 }), budget: false },
    });
    let calls = 0;
    const { error } = await settle(
      g.execute(() => {
        calls++;
        throw unavailable();
      }),
    );
    assert.ok(isCircuitOpenError(error), 'the third attempt meets the open breaker and is not retried');
    assert.equal(calls, 2);
  });

  it('counts retries against the retry budget', async () => {
    // A budget of one retry in the window, whatever the traffic.
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, window: 10_000, clock });
    const g = guard({
      clock,
      breaker: false,
      retry: { attempts: 3, backoff: constantBackoff({ delay: 10 }), budget },
    });
    let calls = 0;
    const fail = () => {
      calls++;
      throw unavailable();
    };
    await settle(g.execute(fail), 100);
    await settle(g.execute(fail), 100);
    assert.equal(calls, 3, 'first call: 1 + 1 retry; second call: 1, the budget spent');
    assert.deepEqual(
      { firsts: budget.snapshot().firsts, retries: budget.snapshot().retries },
      { firsts: 2, retries: 1 },
    );
  });

  it('bounds each attempt with the timeout, and gives each its number, deadline and signal', async () => {
    const g = guard({
      clock,
      breaker: false,
      limiter: false,
      timeout: 100,
      retry: { attempts: 3, backoff: constantBackoff({ delay: 10 }), budget: false },
    });
    const caller = new AbortController();
    const seen: { attempt: number; deadline: number | undefined; remaining: number; signal: AbortSignal }[] =
      [];
    const hang = (c: CallContext) =>
      new Promise<never>((_, reject) => {
        seen.push({
          attempt: c.attempt,
          deadline: c.deadline,
          remaining: (c.deadline ?? 0) - clock.now(),
          signal: c.signal!,
        });
        c.signal?.addEventListener('abort', () => reject(c.signal?.reason), { once: true });
      });
    const { error } = await settle(g.execute(hang, { signal: caller.signal, deadline: 250 }));
    assert.ok(isTimeoutError(error));
    assert.deepEqual(
      seen.map(({ attempt, deadline, remaining }) => ({ attempt, deadline, remaining })),
      [
        { attempt: 0, deadline: 100, remaining: 100 },
        { attempt: 1, deadline: 210, remaining: 100 },
        { attempt: 2, deadline: 250, remaining: 30 },
      ],
    );
    assert.ok(seen.every((s) => s.signal.aborted && s.signal !== caller.signal));
    assert.equal(
      getEventListeners(caller.signal, 'abort').length,
      0,
      'no listener left on the caller signal',
    );
  });

  it('stops at once when the caller aborts, and does not retry', async () => {
    const g = guard({
      clock,
      breaker: false,
      timeout: 1000,
      retry: { backoff: constantBackoff({ delay: 10 }) },
    });
    const caller = new AbortController();
    let calls = 0;
    const done = outcome(
      g.execute(
        (c) =>
          new Promise((_, reject) => {
            calls++;
            c.signal?.addEventListener('abort', () => reject(c.signal?.reason), { once: true });
          }),
        { signal: caller.signal },
      ),
    );
    await clock.advanceAsync(5);
    caller.abort(new Error('caller gave up'));
    const { error } = await done;
    assert.match(String(error), /caller gave up/);
    assert.equal(calls, 1);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it('does not count a limiter rejection against the breaker', async () => {
    const g = guard({
      clock,
      retry: false,
      breaker: { consecutiveFailures: 1 },
      limiter: { limit: 1, queue: false },
    });
    let release = (): void => {};
    const held = g.execute(() => new Promise<void>((resolve) => (release = resolve)));
    await clock.advanceAsync(0);
    const { error } = await settle(
      g.execute(() => 'never'),
      0,
    );
    assert.ok(isRejectedError(error) && error.reason === 'limit');
    assert.equal(g.breaker?.state, 'closed');
    release();
    await held;
  });

  it('keeps the calls an open breaker refuses away from the throttle', async () => {
    const g = guard({ clock, retry: false, throttle: {}, limiter: false });
    using _isolation = g.breaker!.isolate();
    for (let i = 0; i < 5; i++) {
      const { error } = await settle(
        g.execute(() => 'never'),
        0,
      );
      assert.ok(isCircuitOpenError(error));
    }
    assert.equal(g.throttle?.snapshot().requests, 0);
  });

  it("queues by the call's priority in the limiter", async () => {
    const g = guard({ clock, retry: false, breaker: false, limiter: { limit: 1 } });
    const order: string[] = [];
    let release = (): void => {};
    const held = g.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const low = g.execute(() => order.push('low'), { priority: 'low' });
    const critical = g.execute(() => order.push('critical'), { priority: 'critical' });
    await clock.advanceAsync(1);
    release();
    await Promise.all([held, low, critical]);
    assert.deepEqual(order, ['critical', 'low']);
  });

  it('rejects invalid parts with a ConfigError naming the option', () => {
    assert.throws(
      () => guard({ timeout: 'soon' as unknown as number }),
      (e) => isConfigError(e) && e.option === 'timeout',
    );
    assert.throws(
      () => guard({ limiter: 5 as never }),
      (e) => isConfigError(e) && e.option === 'limiter',
    );
    assert.throws(
      () => guard({ retry: 'yes' as never }),
      (e) => isConfigError(e) && e.option === 'retry',
    );
    assert.throws(
      () => guard({ name: '' }),
      (e) => isConfigError(e) && e.option === 'name',
    );
    assert.throws(
      () => guard({ clock: {} as never }),
      (e) => isConfigError(e) && e.option === 'clock',
    );
    assert.throws(
      () => guard({ timeout: -1, clock }),
      (e) => isConfigError(e) && e.option === 'timeout',
    );
  });
});
