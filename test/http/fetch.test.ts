import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createFetch, type GuardedFetchOptions, isHttpStatusError } from '../../src/http/index.ts';
import type { Outcome } from '../../src/limiter/types.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { isCircuitOpenError } from '../../src/policies/breaker.ts';
import type { GuardOptions } from '../../src/policies/guard.ts';
import { isTimeoutError } from '../../src/policies/timeout.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

const url = 'http://api.test/items/1';

type Answer = number | { status: number; headers?: Record<string, string> } | { error: unknown } | 'hang';

interface Sent {
  readonly at: number;
  readonly method: string;
  readonly init: RequestInit | undefined;
  readonly response: Response | undefined;
}

/** A fetch that answers from a script (the last answer repeats) and records what it was sent. */
function scripted(...answers: Answer[]) {
  const sent: Sent[] = [];
  const fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const answer = answers[Math.min(sent.length, answers.length - 1)]!;
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    if (answer === 'hang') {
      sent.push({ at: clock.now(), method, init, response: undefined });
      return new Promise((_, reject) => {
        const signal = init?.signal;
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    if (typeof answer === 'object' && 'error' in answer) {
      sent.push({ at: clock.now(), method, init, response: undefined });
      return Promise.reject(answer.error);
    }
    const { status, headers } = typeof answer === 'number' ? { status: answer, headers: undefined } : answer;
    const response = new Response(status === 204 ? null : `body ${status}`, {
      status,
      headers: headers ?? {},
    });
    sent.push({ at: clock.now(), method, init, response });
    return Promise.resolve(response);
  };
  return { fetch, sent };
}

function guarded(
  fetch: NonNullable<GuardedFetchOptions['fetch']>,
  perOrigin: GuardOptions = {},
  options: Partial<GuardedFetchOptions> = {},
) {
  return createFetch({
    fetch,
    clock,
    perOrigin: () => ({ retry: { backoff: constantBackoff({ delay: 10 }) }, ...perOrigin }),
    ...options,
  });
}

/** Settles `promise` by running virtual time forward; returns its value or the error it threw. */
async function settle<T>(promise: Promise<T>, ms = 60_000): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await clock.advanceAsync(ms);
  return outcome;
}

function reset(code = 'ECONNRESET'): { error: unknown } {
  return { error: new TypeError('fetch failed', { cause: Object.assign(new Error('socket'), { code }) }) };
}

describe('guarded fetch: responses', () => {
  it('returns a success as it is, through one guard per origin', async () => {
    const { fetch, sent } = scripted(200);
    const f = guarded(fetch);
    const { value } = await settle(f(url));
    assert.equal(value?.status, 200);
    assert.equal(await value?.text(), 'body 200');
    assert.equal(sent.length, 1);
    assert.equal(f.guardOf('http://api.test/other'), f.guardOf(url));
    assert.notEqual(f.guardOf('http://other.test/'), f.guardOf(url));
    assert.equal(f.guardOf(url).breaker?.name, 'http://api.test');
  });

  it('retries a 503 and cancels the body of every response it replaces', async () => {
    const { fetch, sent } = scripted(503, 503, 200);
    const { value } = await settle(guarded(fetch)(url));
    assert.equal(value?.status, 200);
    assert.deepEqual(
      sent.map((s) => s.response?.bodyUsed),
      [true, true, false],
    );
  });

  it('returns the final 503 after the last attempt, body unread, as fetch would', async () => {
    const { fetch, sent } = scripted(503);
    const { value } = await settle(guarded(fetch)(url));
    assert.equal(value?.status, 503);
    assert.equal(await value?.text(), 'body 503');
    assert.equal(sent.length, 3);
  });

  it('throws an HttpStatusError holding the final response when asked to', async () => {
    const { fetch } = scripted(500);
    const { error } = await settle(guarded(fetch, {}, { throwOnError: true })(`${url}?token=s3cret`));
    assert.ok(isHttpStatusError(error));
    assert.equal(error.status, 500);
    assert.equal(error.method, 'GET');
    assert.equal(error.url, `${url}?token=s3cret`);
    assert.doesNotMatch(error.message, /s3cret/, 'the query stays out of the message');
    assert.equal(await error.response.text(), 'body 500');
  });

  it('honours Retry-After in seconds', async () => {
    const { fetch, sent } = scripted({ status: 503, headers: { 'retry-after': '2' } }, 200);
    const { value } = await settle(guarded(fetch)(url));
    assert.equal(value?.status, 200);
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 2000],
    );
  });

  it("honours Retry-After as an HTTP date, read against the response's Date", async () => {
    const headers = { date: 'Wed, 21 Oct 2015 07:28:00 GMT', 'retry-after': 'Wed, 21 Oct 2015 07:28:03 GMT' };
    const { fetch, sent } = scripted({ status: 429, headers }, 200);
    await settle(guarded(fetch)(url));
    assert.deepEqual(
      sent.map((s) => s.at),
      [0, 3000],
    );
  });
});

describe('guarded fetch: what is retried', () => {
  it('retries a POST only when the server surely did not process it (429, 408, 503, refused)', async () => {
    for (const first of [429, 408, 503, reset('ECONNREFUSED')]) {
      const { fetch, sent } = scripted(first, 201);
      const { value } = await settle(guarded(fetch)(url, { method: 'POST', body: '{}' }));
      assert.equal(value?.status, 201, `after ${JSON.stringify(first)}`);
      assert.equal(sent.length, 2);
    }
  });

  it('does not retry a POST after a 500, a 502, a reset connection or a timeout', async () => {
    for (const first of [500, 502, reset(), 'hang'] as const) {
      const { fetch, sent } = scripted(first, 201);
      const f = guarded(fetch, { timeout: 100 });
      await settle(f(url, { method: 'POST', body: '{}' }));
      assert.equal(sent.length, 1, `after ${JSON.stringify(first)}`);
    }
  });

  it('retries an idempotent method after a 500, a reset connection or a timeout, but not after a 501', async () => {
    for (const [first, method] of [
      [500, 'GET'],
      [reset(), 'PUT'],
      ['hang', 'DELETE'],
      [reset('UND_ERR_SOCKET'), 'HEAD'],
    ] as const) {
      const { fetch, sent } = scripted(first, 204);
      const { value } = await settle(guarded(fetch, { timeout: 100 })(url, { method }));
      assert.equal(value?.status, 204, `${method} after ${JSON.stringify(first)}`);
      assert.equal(sent.length, 2);
    }
    const { fetch, sent } = scripted(501, 200);
    const { value } = await settle(guarded(fetch)(url));
    assert.equal(value?.status, 501);
    assert.equal(sent.length, 1);
  });

  it('retries a POST that carries an Idempotency-Key like a PUT', async () => {
    const { fetch, sent } = scripted(500, 201);
    const { value } = await settle(
      guarded(fetch)(url, { method: 'POST', body: '{}', headers: { 'Idempotency-Key': 'k1' } }),
    );
    assert.equal(value?.status, 201);
    assert.equal(sent.length, 2);
  });

  it('never retries a request whose body is a stream, but counts it as a first attempt', async () => {
    const { fetch, sent } = scripted(503, 200);
    const f = guarded(fetch);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('data'));
        controller.close();
      },
    });
    const { value } = await settle(f(url, { method: 'PUT', body, duplex: 'half' } as RequestInit), 100);
    assert.equal(value?.status, 503);
    assert.equal(sent.length, 1);
    assert.equal(f.guardOf(url).budget?.snapshot().firsts, 1);
  });

  it('does not retry 4xx answers other than 408 and 429', async () => {
    for (const status of [400, 401, 404, 409, 422]) {
      const { fetch, sent } = scripted(status, 200);
      const { value } = await settle(guarded(fetch)(url));
      assert.equal(value?.status, status);
      assert.equal(sent.length, 1);
    }
  });

  it('retries within the per-origin budget shared by every request to the origin', async () => {
    const { fetch, sent } = scripted(503);
    const f = guarded(fetch, {
      breaker: false,
      retry: { attempts: 3, backoff: constantBackoff({ delay: 10 }) },
    });
    // The default budget: 10% of first attempts plus 1 retry per second over 10 s (10 retries).
    for (let i = 0; i < 20; i++) await settle(f(url), 100);
    const budget = f.guardOf(url).budget!.snapshot();
    assert.equal(budget.firsts, 20);
    assert.ok(budget.retries <= budget.allowance, `${budget.retries} <= ${budget.allowance}`);
    assert.equal(sent.length, 20 + budget.retries);
    assert.ok(sent.length < 40, 'far fewer than the 60 attempts of unbudgeted retries');
  });
});

describe('guarded fetch: what the breaker and the limiter learn', () => {
  it('opens the breaker on 5xx, not on 429 or other 4xx', async () => {
    const { fetch, sent } = scripted(429, 429, 429, 404, 404, 500, 500, 200);
    const f = guarded(fetch, { retry: false, breaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 5; i++) await settle(f(url), 0);
    assert.equal(f.guardOf(url).breaker?.state, 'closed');
    await settle(f(url), 0);
    await settle(f(url), 0);
    assert.equal(f.guardOf(url).breaker?.state, 'open');
    const { error } = await settle(f(url), 0);
    assert.ok(isCircuitOpenError(error));
    assert.equal(sent.length, 7, 'the refused call never reached fetch');
  });

  it('returns the last answer when the breaker refuses the retry', async () => {
    const { fetch, sent } = scripted(500, 200);
    const f = guarded(fetch, { breaker: { consecutiveFailures: 1 } });
    const { value } = await settle(f(url));
    assert.equal(value?.status, 500);
    assert.equal(await value?.text(), 'body 500');
    assert.equal(sent.length, 1);
  });

  it('teaches the limiter: 429, 503 and timeouts are drops, a 500 is ignored, a 404 a success', async () => {
    const { fetch } = scripted(429, 503, 'hang', 500, 404);
    const f = guarded(fetch, { retry: false, breaker: false, timeout: 100 });
    const outcomes: Outcome[] = [];
    f.guardOf(url).limiter?.limiter.on('release', (e) => outcomes.push(e.outcome));
    for (let i = 0; i < 5; i++) await settle(f(url), 200);
    assert.deepEqual(outcomes, ['dropped', 'dropped', 'dropped', 'ignore', 'success']);
  });

  it('teaches a throttle the same: overload answers are rejections', async () => {
    const { fetch } = scripted(503, 503, 500, 200);
    // A draw of 0.99 never falls under the rejection probability (capped at 0.9): nothing is shed locally.
    const f = guarded(fetch, { retry: false, breaker: false, throttle: { random: () => 0.99 } });
    for (let i = 0; i < 4; i++) await settle(f(url), 0);
    const snapshot = f.guardOf(url).throttle!.snapshot();
    assert.deepEqual({ requests: snapshot.requests, accepts: snapshot.accepts }, { requests: 4, accepts: 2 });
  });
});

describe('guarded fetch: signals, deadlines and options', () => {
  it('times out a hanging attempt, and throws the TimeoutError after the last one', async () => {
    const { fetch, sent } = scripted('hang');
    const { error } = await settle(guarded(fetch, { timeout: 100 })(url));
    assert.ok(isTimeoutError(error));
    assert.equal(sent.length, 3);
    assert.ok(sent.every((s) => s.init?.signal?.aborted));
  });

  it("passes init.sluice's priority and deadline to the policies, not to fetch", async () => {
    const { fetch, sent } = scripted('hang');
    const f = guarded(fetch, { timeout: 1000, retry: false });
    const { error } = await settle(f(url, { sluice: { deadline: 50, priority: 'critical' } }));
    assert.ok(isTimeoutError(error) && error.source === 'deadline');
    assert.equal(sent[0]?.at, 0);
    assert.ok(!('sluice' in (sent[0]?.init ?? {})));
  });

  it("stops on the caller's abort without retrying, and leaves no listener on its signal", async () => {
    const { fetch, sent } = scripted('hang');
    const caller = new AbortController();
    const done = guarded(fetch, { timeout: 1000 })(url, { signal: caller.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await clock.advanceAsync(10);
    caller.abort(new Error('user left'));
    await clock.advanceAsync(1000);
    assert.match(String(await done), /user left/);
    assert.equal(sent.length, 1);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it("keeps the response body abortable by the caller's signal after the attempt's timeout is gone", async () => {
    const { fetch, sent } = scripted(200);
    const caller = new AbortController();
    const { value } = await settle(guarded(fetch, { timeout: 1000 })(url, { signal: caller.signal }), 0);
    assert.equal(value?.status, 200);
    const signal = sent[0]?.init?.signal;
    assert.equal(signal?.aborted, false);
    caller.abort();
    assert.equal(signal?.aborted, true);
  });

  it('accepts a Request as input', async () => {
    const { fetch, sent } = scripted(503, 200);
    const { value } = await settle(guarded(fetch)(new Request(url, { method: 'DELETE' })));
    assert.equal(value?.status, 200);
    assert.deepEqual(
      sent.map((s) => s.method),
      ['DELETE', 'DELETE'],
    );
  });

  it('forgets the least recently used origin beyond maxOrigins', async () => {
    const { fetch } = scripted(200);
    const f = guarded(fetch, {}, { maxOrigins: 2 });
    const a = f.guardOf('http://a.test');
    f.guardOf('http://b.test');
    assert.equal(f.guardOf('http://a.test'), a, 'a is now the most recent');
    f.guardOf('http://c.test');
    assert.equal(f.guardOf('http://a.test'), a);
    const b = f.guardOf('http://b.test');
    assert.notEqual(b, undefined);
  });

  it('rejects invalid options with a ConfigError', () => {
    assert.throws(
      () => createFetch({ fetch: 'no' as never }),
      (e) => isConfigError(e) && e.option === 'fetch',
    );
    assert.throws(
      () => createFetch({ maxOrigins: 0 }),
      (e) => isConfigError(e) && e.option === 'maxOrigins',
    );
    assert.throws(() => createFetch({ throwOnError: 1 as never }), isConfigError);
    assert.throws(() => createFetch({ clock: {} as never }), isConfigError);
    const f = createFetch({ perOrigin: () => null as never });
    assert.throws(() => f.guardOf(url), isConfigError);
  });
});
