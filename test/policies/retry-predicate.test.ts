import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, RejectedError, type RejectReason } from '../../src/core/errors.ts';
import { HttpStatusError } from '../../src/http/fetch.ts';
import { CircuitOpenError } from '../../src/policies/breaker/error.ts';
import { isRetryableError, parseRetryAfter, retryAfterMs } from '../../src/policies/retry.ts';
import { TimeoutError } from '../../src/policies/timeout.ts';

const details = { limit: 1, inflight: 1, queued: 0, retryAfterMs: 50 };
const coded = (code: string) => Object.assign(new Error(code), { code });
const status = (s: number) => Object.assign(new Error(`HTTP ${s}`), { status: s });

describe('retry: default predicate', () => {
  it('retries timeouts, resets, refused connections and temporary DNS failures', () => {
    assert.ok(isRetryableError(new TimeoutError({ policy: 't', timeoutMs: 1, source: 'timeout' })));
    assert.ok(isRetryableError(new DOMException('signal timed out', 'TimeoutError')));
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']) {
      assert.ok(isRetryableError(coded(code)), code);
    }
  });

  it('retries 408, 429, 502, 503 and 504, read from status, statusCode or response.status', () => {
    for (const s of [408, 429, 502, 503, 504]) assert.ok(isRetryableError(status(s)), String(s));
    assert.ok(isRetryableError({ statusCode: 503 }));
    assert.ok(isRetryableError({ response: { status: 429 } }));
  });

  it('does not retry other 4xx and 5xx answers', () => {
    for (const s of [400, 401, 403, 404, 409, 422, 500, 501])
      assert.equal(isRetryableError(status(s)), false);
  });

  it('retries a load rejection, but not a passed deadline or an abort', () => {
    const reasons: RejectReason[] = ['limit', 'queue-full', 'queue-timeout', 'partition', 'shed'];
    for (const r of reasons) assert.ok(isRetryableError(new RejectedError(r, details)), r);
    assert.equal(isRetryableError(new RejectedError('deadline', details)), false);
    assert.equal(isRetryableError(new RejectedError('aborted', details)), false);
  });

  it('does not retry aborts, open circuits, configuration or programming errors', () => {
    assert.equal(isRetryableError(new DOMException('aborted', 'AbortError')), false);
    const circuitOpen = new CircuitOpenError({ breaker: 'db', state: 'open', retryAfterMs: 100 });
    assert.equal(isRetryableError(circuitOpen), false);
    assert.equal(isRetryableError(new ConfigError('x', 1, 'y')), false);
    assert.equal(isRetryableError(new TypeError('undefined is not a function')), false);
    assert.equal(isRetryableError(new RangeError('bad')), false);
    assert.equal(isRetryableError(new Error('unknown')), false);
    assert.equal(isRetryableError('a string'), false);
    assert.equal(isRetryableError(undefined), false);
  });

  it("looks through fetch's TypeError to the network error in its cause", () => {
    assert.ok(isRetryableError(new TypeError('fetch failed', { cause: coded('ECONNRESET') })));
    assert.equal(isRetryableError(new TypeError('fetch failed', { cause: coded('ENOTFOUND') })), false);
  });

  it('stops at a definite answer before looking at the cause', () => {
    assert.equal(isRetryableError(Object.assign(status(404), { cause: coded('ECONNRESET') })), false);
  });
});

describe('retry: Retry-After hints', () => {
  it('reads retryAfterMs first', () => {
    assert.equal(retryAfterMs(new RejectedError('shed', details)), 50);
    assert.equal(retryAfterMs({ retryAfterMs: 10, headers: { 'retry-after': '5' } }), 10);
  });

  it('reads a header from Headers, a Map, a plain object or a node:http array value', () => {
    assert.equal(retryAfterMs({ response: { headers: new Headers({ 'retry-after': '2' }) } }), 2000);
    assert.equal(retryAfterMs({ headers: new Map([['retry-after', '4']]) }), 4000);
    assert.equal(retryAfterMs({ headers: { 'Retry-After': '1' } }), 1000);
    assert.equal(retryAfterMs({ headers: { 'retry-after': ['7'] } }), 7000);
    assert.equal(retryAfterMs({ headers: { 'retry-after': 3 } }), 3000);
  });

  it('gives undefined without a hint', () => {
    assert.equal(retryAfterMs(new Error('x')), undefined);
    assert.equal(retryAfterMs({ retryAfterMs: -1 }), undefined);
    assert.equal(retryAfterMs({ response: null }), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });

  it('parses delay-seconds, and an HTTP date only against a wall clock', () => {
    assert.equal(parseRetryAfter('120'), 120_000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    assert.equal(parseRetryAfter('1.5'), undefined);
    assert.equal(parseRetryAfter('-1'), undefined);
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    assert.equal(parseRetryAfter(date), undefined);
    const now = Date.UTC(2015, 9, 21, 7, 27, 0);
    assert.equal(
      parseRetryAfter(date, () => now),
      60_000,
    );
    assert.equal(
      parseRetryAfter(date, () => now + 120_000),
      0,
    );
    assert.equal(
      parseRetryAfter('soon', () => now),
      undefined,
    );
  });
});

describe('isRetryableError and the guarded fetch', () => {
  it('reads the status of an HttpStatusError like any HTTP status', () => {
    // A sluice error used to settle the question before its status was read: a 503 thrown by
    // createFetch({ throwOnError: true }) was never retried by a default retry policy.
    const error = (status: number) =>
      new HttpStatusError('GET', 'http://127.0.0.1/x', new Response(null, { status }));
    assert.equal(isRetryableError(error(503)), true);
    assert.equal(isRetryableError(error(429)), true);
    assert.equal(isRetryableError(error(500)), false);
    assert.equal(isRetryableError(error(404)), false);
  });
});
