import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { isConfigError, RejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { seededRandom } from '../../src/policies/backoff/backoff.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { exponentialBackoff } from '../../src/policies/backoff/exponential.ts';
import { fullJitterBackoff } from '../../src/policies/backoff/full-jitter.ts';
import type { CallContext } from '../../src/policies/policy.ts';
import { createRetry, type RetryEvents, type RetryOptions } from '../../src/policies/retry.ts';
import { createRetryBudget } from '../../src/policies/retry-budget.ts';
import { isTimeoutError } from '../../src/policies/timeout.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

/** An error as an HTTP client would throw it. */
function httpError(status: number, headers?: Record<string, string>): Error {
  return Object.assign(new Error(`HTTP ${status}`), { status, headers });
}

/** Work that fails with the given errors in turn, then returns `"ok"`; records when and how it ran. */
function flaky(...errors: unknown[]) {
  const calls: { at: number; context: CallContext }[] = [];
  const fn = (context: CallContext): Promise<string> => {
    calls.push({ at: clock.now(), context });
    const error = errors[calls.length - 1];
    return error === undefined ? Promise.resolve('ok') : Promise.reject(error);
  };
  return { fn, calls, at: () => calls.map((c) => c.at) };
}

/** Settles `promise` by running virtual time forward; returns its value or the error it threw. */
async function settle<T>(promise: Promise<T>, ms = 120_000): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await clock.advanceAsync(ms);
  return outcome;
}

function retry(options: RetryOptions = {}) {
  return createRetry({ backoff: constantBackoff({ delay: 100 }), budget: false, clock, ...options });
}

function record<K extends keyof RetryEvents & string>(policy: ReturnType<typeof createRetry>, name: K) {
  const events: RetryEvents[K][] = [];
  policy.on(name, (e) => events.push(e));
  return events;
}

describe('retry: attempts', () => {
  it('returns the first success without waiting', async () => {
    const work = flaky();
    assert.equal(await retry().execute(work.fn), 'ok');
    assert.equal(work.calls.length, 1);
    assert.equal(work.calls[0]!.context.attempt, 0);
  });

  it('retries a retryable failure after the backoff, numbering the attempts', async () => {
    const work = flaky(httpError(503), httpError(503));
    const { value } = await settle(retry({ attempts: 3 }).execute(work.fn));
    assert.equal(value, 'ok');
    assert.deepEqual(work.at(), [0, 100, 200]);
    assert.deepEqual(
      work.calls.map((c) => c.context.attempt),
      [0, 1, 2],
    );
  });

  it('makes at most `attempts` attempts, then throws the last error itself', async () => {
    const errors = [httpError(503), httpError(502), httpError(504), httpError(503)];
    const work = flaky(...errors);
    const policy = retry({ attempts: 3 });
    const giveUps = record(policy, 'give-up');
    const { error } = await settle(policy.execute(work.fn));
    assert.equal(error, errors[2]);
    assert.equal(work.calls.length, 3);
    assert.deepEqual(giveUps, [
      { policy: 'retry', at: 200, attempts: 3, why: 'attempts', reason: errors[2] },
    ]);
  });

  it('does not retry an error the predicate refuses', async () => {
    const notFound = httpError(404);
    const work = flaky(notFound);
    const policy = retry();
    const giveUps = record(policy, 'give-up');
    const { error } = await settle(policy.execute(work.fn));
    assert.equal(error, notFound);
    assert.equal(work.calls.length, 1);
    assert.equal(giveUps[0]!.why, 'not-retryable');
  });

  it('uses a custom predicate', async () => {
    const work = flaky(new Error('flaky'), new Error('flaky'));
    const { value } = await settle(
      retry({ retryable: (e) => (e as Error).message === 'flaky' }).execute(work.fn),
    );
    assert.equal(value, 'ok');
    assert.equal(work.calls.length, 3);
  });

  it('treats a synchronous throw like a rejection', async () => {
    let n = 0;
    const fn = () => {
      if (n++ === 0) throw httpError(503);
      return 7;
    };
    assert.equal((await settle(retry().execute(fn))).value, 7);
  });

  it('passes the caller attempt offset, priority and deadline to every attempt', async () => {
    const work = flaky(httpError(503));
    await settle(retry().execute(work.fn, { attempt: 2, priority: 'high', deadline: 10_000 }));
    assert.deepEqual(
      work.calls.map((c) => [c.context.attempt, c.context.priority, c.context.deadline]),
      [
        [2, 'high', 10_000],
        [3, 'high', 10_000],
      ],
    );
  });
});

describe('retry: backoff', () => {
  it('waits the exponential sequence between attempts', async () => {
    const work = flaky(...Array.from({ length: 5 }, () => httpError(503)));
    const policy = retry({ attempts: 6, backoff: exponentialBackoff({ base: 100, max: 1000 }) });
    await settle(policy.execute(work.fn));
    assert.deepEqual(work.at(), [0, 100, 300, 700, 1500, 2500]);
  });

  it('waits an exact jittered sequence for a seeded random source', async () => {
    const backoff = fullJitterBackoff({ base: 100, max: 10_000 });
    const expected: number[] = [];
    const draw = seededRandom(1234);
    for (let r = 1; r <= 4; r++) expected.push(backoff.delay(r, 0, draw));
    const work = flaky(...Array.from({ length: 4 }, () => httpError(503)));
    const policy = retry({ attempts: 5, backoff, random: seededRandom(1234) });
    const retries = record(policy, 'retry');
    await settle(policy.execute(work.fn));
    assert.deepEqual(
      retries.map((e) => e.delay),
      expected,
    );
    let t = 0;
    assert.deepEqual(work.at(), [0, ...expected.map((d) => (t += d))]);
  });

  it('reports each retry with its attempt number, delay and reason', async () => {
    const error = httpError(503);
    const work = flaky(error);
    const policy = retry({ name: 'api' });
    const retries = record(policy, 'retry');
    await settle(policy.execute(work.fn));
    assert.deepEqual(retries, [
      { policy: 'api', at: 0, attempt: 1, delay: 100, reason: error, retryAfterMs: undefined },
    ]);
  });
});

describe('retry: Retry-After', () => {
  it('waits the hint when it is longer than the backoff', async () => {
    const work = flaky(new RejectedError('shed', { limit: 1, inflight: 1, queued: 0, retryAfterMs: 2000 }));
    await settle(retry().execute(work.fn));
    assert.deepEqual(work.at(), [0, 2000]);
  });

  it('keeps the backoff when it is longer than the hint', async () => {
    const work = flaky(Object.assign(httpError(429), { retryAfterMs: 20 }));
    await settle(retry().execute(work.fn));
    assert.deepEqual(work.at(), [0, 100]);
  });

  it('reads a seconds-form retry-after header from error.response.headers or error.headers', async () => {
    const fromResponse = Object.assign(new Error('429'), {
      response: { status: 429, headers: new Headers({ 'Retry-After': '3' }) },
    });
    const work = flaky(fromResponse, httpError(503, { 'retry-after': ' 1 ' }));
    await settle(retry().execute(work.fn));
    assert.deepEqual(work.at(), [0, 3000, 4000]);
  });

  it('caps the wait at maxDelay', async () => {
    const work = flaky(httpError(503, { 'retry-after': '3600' }));
    const policy = retry({ maxDelay: 5000 });
    const retries = record(policy, 'retry');
    await settle(policy.execute(work.fn));
    assert.deepEqual(work.at(), [0, 5000]);
    assert.equal(retries[0]!.retryAfterMs, 3_600_000);
  });

  it('honours an HTTP-date hint only against a supplied wall clock', async () => {
    const date = { 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' };
    const ignored = flaky(httpError(503, date));
    await settle(retry().execute(ignored.fn));
    assert.deepEqual(ignored.at(), [0, 100]);

    const honoured = flaky(httpError(503, date));
    const start = clock.now();
    const wallClock = () => Date.UTC(2015, 9, 21, 7, 28, 0) + clock.now() - start;
    await settle(retry({ wallClock }).execute(honoured.fn));
    assert.deepEqual(honoured.at(), [start, start + 30_000]);
  });

  it('ignores hints when honourRetryAfter is false', async () => {
    const work = flaky(httpError(503, { 'retry-after': '10' }));
    await settle(retry({ honourRetryAfter: false }).execute(work.fn));
    assert.deepEqual(work.at(), [0, 100]);
  });
});

describe('retry: deadline and abort', () => {
  it('stops when the next attempt could not start before the deadline, throwing the last error', async () => {
    const errors = Array.from({ length: 10 }, (_, i) => httpError(503 + (i % 2)));
    const work = flaky(...errors);
    const policy = retry({ attempts: 10 });
    const giveUps = record(policy, 'give-up');
    const { error } = await settle(policy.execute(work.fn, { deadline: 250 }));
    assert.deepEqual(work.at(), [0, 100, 200]);
    assert.equal(error, errors[2]);
    assert.equal(giveUps[0]!.why, 'deadline');
  });

  it('does not wait out a Retry-After that ends past the deadline', async () => {
    const work = flaky(httpError(503, { 'retry-after': '5' }));
    const { error } = await settle(retry().execute(work.fn, { deadline: 4000 }));
    assert.ok(error);
    assert.deepEqual(work.at(), [0]);
  });

  it("rejects with the caller's reason when aborted during the backoff, leaving no timer or listener", async () => {
    const caller = new AbortController();
    const work = flaky(httpError(503), httpError(503));
    const policy = retry({ backoff: constantBackoff({ delay: 1000 }) });
    const giveUps = record(policy, 'give-up');
    const result = policy.execute(work.fn, { signal: caller.signal }).catch((e: unknown) => e);
    await clock.advanceAsync(500);
    assert.equal(clock.pending, 1);
    const reason = new Error('caller gave up');
    caller.abort(reason);
    assert.equal(await result, reason);
    assert.equal(work.calls.length, 1);
    assert.equal(giveUps[0]!.why, 'aborted');
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it('does not retry once the caller has aborted, throwing the attempt error', async () => {
    const caller = new AbortController();
    const error = httpError(503);
    const fn = () => {
      caller.abort();
      return Promise.reject(error);
    };
    assert.equal((await settle(retry().execute(fn, { signal: caller.signal }))).error, error);
  });

  it('does not start when the signal is already aborted', async () => {
    const work = flaky();
    const { error } = await settle(retry().execute(work.fn, { signal: AbortSignal.abort('no') }));
    assert.equal(error, 'no');
    assert.equal(work.calls.length, 0);
  });

  it('leaves no listener on the signal after succeeding or failing', async () => {
    const caller = new AbortController();
    await settle(retry().execute(flaky(httpError(503)).fn, { signal: caller.signal }));
    await settle(
      retry({ attempts: 2 }).execute(flaky(httpError(503), httpError(503)).fn, { signal: caller.signal }),
    );
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });
});

describe('retry: per-attempt timeout', () => {
  it('times out each attempt, aborts its signal and retries', async () => {
    const signals: AbortSignal[] = [];
    const fn = (context: CallContext) => {
      signals.push(context.signal!);
      return signals.length < 3 ? new Promise<string>(() => {}) : Promise.resolve('ok');
    };
    const policy = retry({ attemptTimeout: 1000 });
    const retries = record(policy, 'retry');
    const { value } = await settle(policy.execute(fn));
    assert.equal(value, 'ok');
    assert.deepEqual(
      signals.map((s) => s.aborted),
      [true, true, false],
    );
    assert.ok(retries.every((e) => isTimeoutError(e.reason)));
    assert.deepEqual(
      retries.map((e) => e.at),
      [1000, 2100],
    );
  });

  it('throws the last TimeoutError when every attempt hangs', async () => {
    const { error } = await settle(
      retry({ attempts: 2, attemptTimeout: 50 }).execute(() => new Promise(() => {})),
    );
    assert.ok(isTimeoutError(error));
    assert.equal(error.policy, 'retry.attempt');
  });

  it("bounds each attempt by the caller's deadline when it is tighter", async () => {
    const deadlines: (number | undefined)[] = [];
    const fn = (context: CallContext) => {
      deadlines.push(context.deadline);
      return new Promise<never>(() => {});
    };
    const { error } = await settle(retry({ attemptTimeout: 1000 }).execute(fn, { deadline: 1500 }));
    assert.ok(isTimeoutError(error));
    assert.equal(error.source, 'deadline');
    assert.deepEqual(deadlines, [1000, 1500]);
  });
});

describe('retry: budget', () => {
  it('gives every policy a budget of its own by default, and none with budget: false', () => {
    assert.ok(createRetry({ clock }).budget);
    assert.equal(createRetry({ clock, budget: false }).budget, undefined);
  });

  it('records first attempts and retries in a shared budget', async () => {
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, clock });
    const a = retry({ budget });
    const b = retry({ budget });
    await settle(a.execute(flaky(httpError(503)).fn), 1000);
    await settle(b.execute(flaky().fn), 1000);
    assert.deepEqual(budget.snapshot(), { firsts: 2, retries: 1, allowance: 2 });
  });

  it('throws the last error when the budget refuses, and reports it', async () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, window: 10_000, clock }); // one retry
    const policy = retry({ budget, attempts: 5 });
    const exhausted = record(policy, 'budget-exhausted');
    const giveUps = record(policy, 'give-up');
    const errors = [httpError(503), httpError(502), httpError(504)];
    const work = flaky(...errors);
    const { error } = await settle(policy.execute(work.fn));
    assert.equal(error, errors[1]);
    assert.deepEqual(work.at(), [0, 100]);
    assert.deepEqual(exhausted, [
      { policy: 'retry', at: 100, attempts: 2, reason: errors[1], firsts: 1, retries: 1, allowance: 1 },
    ]);
    assert.equal(giveUps[0]!.why, 'budget');
  });

  it('keeps total attempts near 1.1x first attempts when every call fails', async () => {
    const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 0, clock });
    const policy = retry({ budget, attempts: 3 });
    let attempts = 0;
    const fn = () => {
      attempts++;
      return Promise.reject(httpError(503));
    };
    const calls = Array.from({ length: 200 }, () => policy.execute(fn).catch(() => undefined));
    await clock.advanceAsync(1000);
    await Promise.all(calls);
    assert.equal(attempts, 220);
  });
});

describe('retry: options', () => {
  it('rejects invalid options, naming them', () => {
    assert.throws(() => createRetry({ attempts: 0 }), /"attempts"/);
    assert.throws(() => createRetry({ attempts: 1.5 }), isConfigError);
    assert.throws(() => createRetry({ attemptTimeout: 0 }), /"attemptTimeout"/);
    assert.throws(() => createRetry({ maxDelay: -1 }), /"maxDelay"/);
    assert.throws(() => createRetry({ retryable: 'yes' as never }), /"retryable"/);
    assert.throws(() => createRetry({ budget: {} as never }), /"budget"/);
    assert.throws(() => createRetry({ backoff: {} as never }), /"backoff"/);
    assert.throws(() => createRetry({ honourRetryAfter: 'no' as never }), /"honourRetryAfter"/);
    assert.ok(createRetry({ attempts: Number.POSITIVE_INFINITY, clock }));
  });
});
