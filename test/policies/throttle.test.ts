import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { CircuitOpenError } from '../../src/policies/breaker/error.ts';
import {
  createThrottle,
  isThrottledError,
  type Throttle,
  type ThrottleOptions,
  type ThrottleOutcome,
} from '../../src/policies/throttle.ts';
import { Random } from '../../src/sim/random.ts';

function setup(options: Omit<ThrottleOptions, 'clock'> = {}) {
  const clock = new VirtualClock(1_000_000);
  const throttle = createThrottle({ clock, ...options });
  return { clock, throttle };
}

/** A random source that never draws a local rejection (the formula's probability is below it). */
const never = () => 0.999_999_9;

/**
 * Makes `requests` requests of which the backend accepts the first `accepts`. The window ends up holding
 * exactly these when the accepts come first (the probability stays 0 while they are made) or when the
 * throttle draws with `never`.
 */
function fill(throttle: Throttle, requests: number, accepts: number): void {
  for (let i = 0; i < requests; i++) throttle.tryPass()?.settle(i < accepts ? 'accepted' : 'rejected');
}

/** The formula, for the default level unless `k` says otherwise. */
function formula(requests: number, accepts: number, k = 2): number {
  return Math.max(0, (requests - k * accepts) / (requests + 1));
}

function httpError(status: number): Error {
  return Object.assign(new Error(`HTTP ${status}`), { status });
}

describe('throttle: the rejection probability', () => {
  it('is 0 while the backend accepts at least 1/K of the requests', () => {
    const { throttle } = setup({ maxProbability: 1 });
    fill(throttle, 100, 50);
    assert.deepEqual(throttle.snapshot(), { requests: 100, accepts: 50, probability: 0 });
  });

  it('follows max(0, (requests - K * accepts) / (requests + 1)) exactly', () => {
    const { throttle } = setup({ maxProbability: 1 });
    fill(throttle, 100, 20);
    assert.equal(throttle.probability(), formula(100, 20));
    assert.equal(throttle.probability(), 60 / 101);
  });

  it('rejects at the rate the formula gives (4000 draws per state, within 4 standard deviations)', () => {
    const random = new Random(42, 'throttle');
    const trials = 4000;
    for (const [requests, accepts] of [
      [100, 20],
      [100, 45],
      [50, 0],
      [300, 100],
    ] as const) {
      const { throttle } = setup({ maxProbability: 1, random: () => random.next() });
      const p = formula(requests, accepts);
      let rejected = 0;
      for (let t = 0; t < trials; t++) {
        throttle.reset();
        fill(throttle, requests, accepts);
        const ticket = throttle.tryPass();
        if (ticket === undefined) rejected++;
      }
      const sd = Math.sqrt((p * (1 - p)) / trials);
      const observed = rejected / trials;
      assert.ok(
        Math.abs(observed - p) <= 4 * sd,
        `state ${requests}/${accepts}: observed ${observed}, expected ${p} ± ${4 * sd}`,
      );
    }
  });

  it('counts locally rejected calls as requests', () => {
    const { throttle } = setup({ maxProbability: 1, random: () => 0 });
    fill(throttle, 10, 0);
    assert.equal(throttle.tryPass(), undefined);
    assert.equal(throttle.tryPass(), undefined);
    assert.equal(throttle.snapshot().requests, 12);
    assert.equal(throttle.probability(), 12 / 13);
  });

  it('is capped at maxProbability (0.9 by default)', () => {
    const { throttle } = setup();
    fill(throttle, 1000, 0);
    assert.equal(throttle.probability(), 0.9);
  });

  it('stays in [0, 1) and is 0 whenever requests <= K * accepts (property)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('call' as const),
        outcome: fc.constantFrom<ThrottleOutcome>('accepted', 'rejected', 'ignore'),
        priority: fc.integer({ min: 0, max: 4 }),
      }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (ops, k, maxProbability, seed) => {
          const random = new Random(seed);
          const { clock, throttle } = setup({ k, maxProbability, random: () => random.next() });
          const pending: { ticket: ReturnType<Throttle['tryPass']>; outcome: ThrottleOutcome }[] = [];
          for (const o of ops) {
            if (o.kind === 'wait') {
              clock.advance(o.ms);
              // Settle late, possibly after the request's slot has left the window.
              for (const p of pending.splice(0)) p.ticket?.settle(p.outcome);
            } else {
              pending.push({ ticket: throttle.tryPass(o.priority), outcome: o.outcome });
            }
            const { requests, accepts } = throttle.snapshot();
            assert.ok(accepts >= 0 && accepts <= requests, `accepts ${accepts}, requests ${requests}`);
            for (let level = 0; level < 5; level++) {
              const p = throttle.probability(level);
              assert.ok(p >= 0 && p < 1, `probability ${p}`);
              if (level === 2 && requests <= k * accepts) assert.equal(p, 0);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('throttle: the window', () => {
  it('forgets requests a window after they were made, a slot at a time', () => {
    const { clock, throttle } = setup({ window: 10_000, slots: 10, maxProbability: 1, random: never });
    fill(throttle, 50, 0);
    clock.advance(5_000);
    fill(throttle, 50, 50);
    assert.deepEqual(throttle.snapshot(), { requests: 100, accepts: 50, probability: 0 });
    // The first 50 rejections leave between 9 and 10 s after they were made.
    clock.advance(4_000);
    assert.equal(throttle.snapshot().requests, 100);
    clock.advance(1_000);
    assert.deepEqual(throttle.snapshot(), { requests: 50, accepts: 50, probability: 0 });
    clock.advance(10_000);
    assert.deepEqual(throttle.snapshot(), { requests: 0, accepts: 0, probability: 0 });
  });

  it('slides: rejections age out while acceptance holds', () => {
    const { clock, throttle } = setup({ window: 10_000, slots: 10, maxProbability: 1, random: never });
    fill(throttle, 100, 0);
    const before = throttle.probability();
    for (let s = 0; s < 10; s++) {
      clock.advance(1_000);
      fill(throttle, 10, 10);
    }
    assert.ok(before > 0.9);
    assert.equal(throttle.probability(), 0);
  });

  it('drops the outcome of a call whose request has left the window', () => {
    const { clock, throttle } = setup({ window: 10_000, slots: 10 });
    const ticket = throttle.tryPass()!;
    clock.advance(20_000);
    ticket.accepted();
    assert.deepEqual(throttle.snapshot(), { requests: 0, accepts: 0, probability: 0 });
  });

  it('recovers when accepts return after an outage: measured at 100 requests per second', () => {
    // The backend refuses everything for a minute, then accepts everything. Each call costs the client
    // nothing when rejected locally; we measure the time until the throttle lets every call through.
    const recovery = (maxProbability: number): number => {
      const random = new Random(7, 'recovery');
      const { clock, throttle } = setup({ maxProbability, random: () => random.next() });
      let up = false;
      for (let t = 0; t < 600_000; t += 10) {
        if (t === 60_000) up = true;
        throttle.tryPass()?.settle(up ? 'accepted' : 'rejected');
        if (up && throttle.probability() === 0) return t - 60_000;
        clock.advance(10);
      }
      return Number.POSITIVE_INFINITY;
    };
    const capped = recovery(0.9);
    const plain = recovery(1);
    // Measured 53 s with the cap (under two windows), 173 s without it.
    assert.ok(capped < 60_000, `recovered in ${capped} ms with the cap`);
    assert.ok(
      plain > capped,
      `the plain formula (${plain} ms) recovers slower than the capped one (${capped} ms)`,
    );
  });
});

describe('throttle: priorities', () => {
  it('throttles the least important calls first (K - 1 doubles per level of importance)', () => {
    const { throttle } = setup({ maxProbability: 1 });
    fill(throttle, 100, 40);
    const ks = [5, 3, 2, 1.5, 1.25];
    const names = ['critical', 'high', 'normal', 'low', 'sheddable'] as const;
    const ps = names.map((n) => throttle.probability(n));
    for (let i = 0; i < names.length; i++) assert.equal(ps[i], formula(100, 40, ks[i]));
    assert.deepEqual(
      ps.map((p) => p > 0),
      [false, false, true, true, true],
    );
    for (let i = 1; i < ps.length; i++) assert.ok(ps[i - 1]! <= ps[i]!, `level ${i - 1} before ${i}`);
  });

  it('takes one K per level from an array, and levels from a count', () => {
    const { throttle } = setup({ maxProbability: 1, priorities: 3, k: [4, 2, 1] });
    fill(throttle, 100, 30);
    assert.equal(throttle.probability(0), 0);
    assert.equal(throttle.probability(), formula(100, 30, 2));
    assert.equal(throttle.probability(2), formula(100, 30, 1));
  });

  it('refuses an unknown priority', async () => {
    const { throttle } = setup();
    assert.throws(() => throttle.tryPass('urgent'), isConfigError);
    await assert.rejects(
      throttle.execute(() => 1, { priority: 9 }),
      isConfigError,
    );
  });
});

describe('throttle: execute', () => {
  it('rejects before the work with a RejectedError, reason shed, and a retry-after hint', async () => {
    const { clock, throttle } = setup({ window: 10_000, slots: 10, maxProbability: 1, random: () => 0 });
    fill(throttle, 20, 0);
    clock.advance(250);
    let ran = false;
    const error = await throttle
      .execute(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    assert.equal(ran, false);
    assert.ok(isRejectedError(error) && isThrottledError(error));
    assert.equal(error.reason, 'shed');
    assert.equal(error.code, 'SLUICE_SHED');
    assert.equal(error.requests, 20);
    assert.equal(error.accepts, 0);
    assert.equal(error.probability, 20 / 21);
    assert.equal(error.retryAfterMs, 750, 'until the window next slides');
    assert.match(error.message, /throttle "throttle" rejected the call locally/);
  });

  it('emits a throttle event per local rejection, on the typed listener and the channel', async () => {
    const { throttle } = setup({ name: 'api', maxProbability: 1, random: () => 0 });
    fill(throttle, 10, 0);
    const seen: unknown[] = [];
    const channel: unknown[] = [];
    const onChannel = (m: unknown) => channel.push(m);
    subscribe('sluice:throttle:throttle', onChannel);
    const off = throttle.on('throttle', (e) => seen.push(e));
    try {
      await assert.rejects(throttle.execute(() => 1, { priority: 'low' }));
    } finally {
      off();
      unsubscribe('sluice:throttle:throttle', onChannel);
    }
    assert.deepEqual(seen, [
      { throttle: 'api', at: 1_000_000, probability: 10 / 11, requests: 10, accepts: 0, priority: 3 },
    ]);
    assert.equal(channel.length, 1);
  });

  it('counts a 503, a 429 and a timeout as backend rejections, other errors as accepted', async () => {
    const { throttle } = setup({ random: never });
    const fail = (e: unknown) => throttle.execute(() => Promise.reject(e)).catch(() => undefined);
    await fail(httpError(503));
    await fail(httpError(429));
    await fail(Object.assign(new Error('slow'), { name: 'TimeoutError' }));
    assert.deepEqual(throttle.snapshot(), { requests: 3, accepts: 0, probability: 0.75 });
    await fail(httpError(404));
    await fail(httpError(500));
    await fail(new TypeError('bug'));
    assert.equal(await throttle.execute(() => 'ok'), 'ok');
    assert.equal(throttle.snapshot().accepts, 4);
  });

  it('takes out of the window calls that never reached the backend', async () => {
    const { throttle } = setup();
    await throttle
      .execute(() => {
        throw new CircuitOpenError({ breaker: 'b', state: 'open', retryAfterMs: 10 });
      })
      .catch(() => undefined);
    const controller = new AbortController();
    const call = throttle.execute(
      (ctx) =>
        new Promise((_, reject) => ctx.signal?.addEventListener('abort', () => reject(ctx.signal?.reason))),
      { signal: controller.signal },
    );
    controller.abort();
    await assert.rejects(call);
    assert.deepEqual(throttle.snapshot(), { requests: 0, accepts: 0, probability: 0 });
  });

  it('rejects an already aborted call without counting it', async () => {
    const { throttle } = setup();
    await assert.rejects(
      throttle.execute(() => 1, { signal: AbortSignal.abort() }),
      { name: 'AbortError' },
    );
    assert.equal(throttle.snapshot().requests, 0);
  });

  it('reads returned values with classifyResult, and errors with classify', async () => {
    const { throttle } = setup({
      random: never,
      classifyResult: (v) => ((v as { status: number }).status === 503 ? 'rejected' : 'accepted'),
      classify: () => 'ignore',
    });
    await throttle.execute(() => ({ status: 503 }));
    await throttle.execute(() => ({ status: 200 }));
    await throttle.execute(() => Promise.reject(httpError(503))).catch(() => undefined);
    assert.deepEqual(throttle.snapshot(), { requests: 2, accepts: 1, probability: 0 });
  });

  it('passes the call context to the work', async () => {
    const { throttle } = setup();
    const ctx = await throttle.execute((c) => c, { priority: 'high', deadline: 5, attempt: 2 });
    assert.deepEqual(ctx, { signal: undefined, deadline: 5, attempt: 2, priority: 'high' });
  });
});

describe('throttle: tickets', () => {
  it('settle once; later settlements are ignored', () => {
    const { throttle } = setup();
    const t = throttle.tryPass()!;
    t.accepted();
    t.accepted();
    t.ignore();
    assert.deepEqual(throttle.snapshot(), { requests: 1, accepts: 1, probability: 0 });
  });

  it('ignore() removes the request from the window', () => {
    const { throttle } = setup();
    throttle.tryPass()!.ignore();
    assert.equal(throttle.snapshot().requests, 0);
  });

  it('emit a throttle event when tryPass rejects locally, as execute does', () => {
    const { throttle } = setup({ name: 'api', maxProbability: 1, random: () => 0 });
    fill(throttle, 10, 0);
    const seen: unknown[] = [];
    const off = throttle.on('throttle', (e) => seen.push(e));
    assert.equal(throttle.tryPass('low'), undefined);
    off();
    assert.deepEqual(seen, [
      { throttle: 'api', at: 1_000_000, probability: 10 / 11, requests: 10, accepts: 0, priority: 3 },
    ]);
  });
});

describe('throttle: options', () => {
  for (const [option, value] of [
    ['k', 0.5],
    ['k', [2, 2]],
    ['window', 0],
    ['slots', 0],
    ['maxProbability', 0],
    ['maxProbability', 1.5],
    ['random', 3],
    ['priorities', []],
    ['name', ''],
  ] as const) {
    it(`refuses ${option} = ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => createThrottle({ [option]: value } as ThrottleOptions),
        (e: unknown) => isConfigError(e) && e.option.startsWith(option),
      );
    });
  }
});
