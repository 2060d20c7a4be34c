import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isRejectedError } from '../../src/core/errors.ts';
import { createFetch, type GuardedFetchOptions } from '../../src/http/index.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { isCircuitOpenError } from '../../src/policies/breaker.ts';
import { type GuardOptions, guard } from '../../src/policies/guard.ts';
import { createRetryBudget } from '../../src/policies/retry-budget.ts';
import { isTimeoutError } from '../../src/policies/timeout.ts';
import { type ChaosServer, startChaosServer } from '../helpers/chaos-server.ts';

/*
 * Chaos tests: the guarded fetch and guard() against a real HTTP server on 127.0.0.1 that injects latency
 * spikes, error bursts, connection resets and hangs. They run on the real clock (a real server cannot
 * follow a virtual one), with timeouts of tens of milliseconds, so each test takes well under a second.
 * After each test the server and every connection are closed, and the test fails on any unhandled
 * rejection or any timer left running.
 */

let server: ChaosServer;
let unhandled: unknown[] = [];
let timersBefore = 0;
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

before(() => process.on('unhandledRejection', onUnhandled));
after(() => process.off('unhandledRejection', onUnhandled));

beforeEach(async () => {
  unhandled = [];
  timersBefore = activeTimers();
  server = await startChaosServer();
});

afterEach(async () => {
  await server.close();
  // Two macrotask turns: a rejection left unhandled is reported after the microtasks of the turn it was made in.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
  assert.equal(activeTimers(), timersBefore, 'no timer left running');
});

const quick: GuardOptions = { timeout: 80, retry: { backoff: constantBackoff({ delay: 5 }) } };

function guardedFetch(perOrigin: GuardOptions = {}, options: Partial<GuardedFetchOptions> = {}) {
  return createFetch({ perOrigin: () => ({ ...quick, ...perOrigin }), ...options });
}

/** A fetch that hands back every response it got, to check which bodies were cancelled. */
function recordingFetch() {
  const responses: Response[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await globalThis.fetch(input, init);
    responses.push(response);
    return response;
  };
  return { fetch, responses };
}

describe('chaos: latency spikes', { timeout: 5000 }, () => {
  it('times out the slow attempt and answers from the retry', async () => {
    server.inject({ kind: 'latency', ms: 400 });
    const caller = new AbortController();
    const started = performance.now();
    const res = await guardedFetch()(server.url('/slow'), { signal: caller.signal });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.ok(performance.now() - started < 400, 'did not wait out the spike');
    assert.deepEqual(
      server.served.map((s) => s.fault),
      ['latency', 'ok'],
    );
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it('guard() does the same around any work that takes the signal', async () => {
    server.inject({ kind: 'latency', ms: 400 }, 2);
    const protect = guard({ ...quick, retry: { attempts: 3, backoff: constantBackoff({ delay: 5 }) } });
    const body = await protect.execute(({ signal }) =>
      fetch(server.url('/slow'), { signal: signal ?? null }).then((r) => r.text()),
    );
    assert.equal(body, 'ok');
    assert.equal(server.served.length, 3);
  });
});

describe('chaos: error bursts', { timeout: 5000 }, () => {
  it('rides out a burst of 503s with Retry-After, cancelling the bodies it retries', async () => {
    server.inject({ kind: 'status', status: 503, retryAfter: '0', bytes: 64 * 1024 }, 2);
    const { fetch, responses } = recordingFetch();
    const res = await guardedFetch({}, { fetch })(server.url('/burst'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.deepEqual(
      responses.map((r) => [r.status, r.bodyUsed]),
      [
        [503, true],
        [503, true],
        [200, true],
      ],
    );
  });

  it('returns the final 500 of a burst longer than the attempts, readable', async () => {
    server.setDefault({ kind: 'status', status: 500, bytes: 64 * 1024 });
    const { fetch, responses } = recordingFetch();
    const res = await guardedFetch({ breaker: false }, { fetch })(server.url('/down'));
    assert.equal(res.status, 500);
    assert.equal((await res.text()).length, 64 * 1024);
    assert.equal(responses.length, 3);
    assert.ok(responses.slice(0, 2).every((r) => r.bodyUsed));
  });

  it('opens the breaker on a burst, fails fast while open, and recovers once the server does', async () => {
    server.setDefault({ kind: 'status', status: 503, retryAfter: '0' });
    const f = guardedFetch({ retry: false, breaker: { consecutiveFailures: 3, openDuration: 100 } });
    const url = server.url('/flaky');
    for (let i = 0; i < 3; i++) assert.equal((await f(url)).status, 503);
    assert.equal(f.guardOf(url).breaker?.state, 'open');
    await assert.rejects(f(url), isCircuitOpenError);
    assert.equal(server.served.length, 3, 'the open breaker kept the call off the server');

    server.setDefault({ kind: 'ok' });
    await delay(120);
    const res = await f(url);
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(f.guardOf(url).breaker?.state, 'closed');
  });

  it('keeps total attempts within the retry budget during an outage', async () => {
    server.setDefault({ kind: 'status', status: 503, retryAfter: '0' });
    // Retries may add 10% of first attempts, and no floor: 20 calls earn 2 retries.
    const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 0, window: 10_000 });
    const f = guardedFetch({
      breaker: false,
      retry: { attempts: 3, budget, backoff: constantBackoff({ delay: 1 }) },
    });
    for (let i = 0; i < 20; i++) await (await f(server.url('/outage'))).text();
    assert.equal(server.served.length, 22, 'naive retries would have made 60 attempts');
    assert.ok(server.served.length <= 1.1 * 20);
  });
});

describe('chaos: connection resets', { timeout: 5000 }, () => {
  it('retries an idempotent request after a reset', async () => {
    server.inject({ kind: 'reset' });
    const res = await guardedFetch()(server.url('/reset'));
    assert.equal(res.status, 200);
    await res.text();
    assert.deepEqual(
      server.served.map((s) => s.fault),
      ['reset', 'ok'],
    );
  });

  it('does not retry a POST after a reset: it may have been processed', async () => {
    server.inject({ kind: 'reset' });
    await assert.rejects(guardedFetch()(server.url('/pay'), { method: 'POST', body: '{}' }), TypeError);
    assert.equal(server.served.length, 1);
  });

  it('guard() retries a reset with its default predicate (read along the cause chain)', async () => {
    server.inject({ kind: 'reset' }, 2);
    const body = await guard(quick).execute(({ signal }) =>
      fetch(server.url('/reset'), { signal: signal ?? null }).then((r) => r.text()),
    );
    assert.equal(body, 'ok');
    assert.equal(server.served.length, 3);
  });
});

describe('chaos: hangs', { timeout: 5000 }, () => {
  it('times out every attempt against a server that never answers, and throws the TimeoutError', async () => {
    server.setDefault({ kind: 'hang' });
    const caller = new AbortController();
    const started = performance.now();
    const f = guardedFetch({ timeout: 50, retry: { attempts: 2, backoff: constantBackoff({ delay: 5 }) } });
    await assert.rejects(f(server.url('/hang'), { signal: caller.signal }), isTimeoutError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 100 && elapsed < 600, `${elapsed} ms`);
    assert.equal(server.served.length, 2);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it("stops at the caller's abort, without retrying", async () => {
    server.setDefault({ kind: 'hang' });
    const caller = new AbortController();
    const f = guardedFetch({ timeout: 1000 });
    const pending = f(server.url('/hang'), { signal: caller.signal });
    await delay(30);
    caller.abort(new Error('user left'));
    await assert.rejects(pending, /user left/);
    assert.equal(server.served.length, 1);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it('guard() bounds hanging work with the caller deadline across attempts', async () => {
    server.setDefault({ kind: 'hang' });
    const protect = guard({ timeout: 40, retry: { attempts: 10, backoff: constantBackoff({ delay: 5 }) } });
    const started = performance.now();
    const deadline = performance.now() + 150;
    await assert.rejects(
      protect.execute(({ signal }) => fetch(server.url('/hang'), { signal: signal ?? null }), { deadline }),
      isTimeoutError,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 400, `${elapsed} ms`);
    assert.ok(server.served.length >= 2 && server.served.length <= 4, `${server.served.length} attempts`);
  });
});

describe('chaos: everything at once', { timeout: 5000 }, () => {
  it('settles every one of 40 concurrent requests under mixed faults, leaking nothing', async () => {
    const faults = [
      { kind: 'latency', ms: 300 },
      { kind: 'status', status: 503, retryAfter: '0' },
      { kind: 'reset' },
      { kind: 'hang' },
      { kind: 'status', status: 500 },
      { kind: 'ok' },
    ] as const;
    for (let i = 0; i < 60; i++) server.inject(faults[i % faults.length]!);
    const f = guardedFetch({ timeout: 60 });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        f(server.url(`/mix/${i}`)).then((r) => r.text().then(() => r.status)),
      ),
    );
    for (const r of results) {
      if (r.status === 'fulfilled') assert.ok([200, 500, 503].includes(r.value), String(r.value));
      else
        assert.ok(
          isTimeoutError(r.reason) ||
            isRejectedError(r.reason) ||
            isCircuitOpenError(r.reason) ||
            r.reason instanceof TypeError,
          String(r.reason),
        );
    }
    assert.ok(results.some((r) => r.status === 'fulfilled' && r.value === 200));
    assert.ok(server.served.length <= 40 * 3);
  });
});
