import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import type { Limiter, LimiterOptions, Outcome } from '../../src/limiter/types.ts';
import { limiterPolicy } from '../../src/policies/limiter-policy.ts';
import type { CallContext } from '../../src/policies/policy.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

function limiter(options: LimiterOptions = {}): { limiter: Limiter; releases: Outcome[] } {
  const l = createLimiter({ clock, limit: 1, ...options });
  const releases: Outcome[] = [];
  l.on('release', (e) => releases.push(e.outcome));
  return { limiter: l, releases };
}

function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe('limiterPolicy', () => {
  it("runs the work under a permit and hands it the caller's context unchanged", async () => {
    const { limiter: l, releases } = limiter();
    const policy = limiterPolicy(l);
    const signal = new AbortController().signal;
    let inflight = -1;
    const context = await policy.execute(
      (c: CallContext) => {
        inflight = l.inflight;
        return c;
      },
      { signal, deadline: 1000, priority: 'high', attempt: 2 },
    );
    assert.equal(inflight, 1);
    assert.deepEqual(context, { signal, deadline: 1000, attempt: 2, priority: 'high' });
    assert.equal(l.inflight, 0);
    assert.deepEqual(releases, ['success']);
    assert.equal(policy.name, 'limiter');
    assert.equal(policy.limiter, l);
  });

  it('releases as the limiter classifier reads the error: a 503 is a drop, a bug is ignored', async () => {
    const { limiter: l, releases } = limiter();
    const policy = limiterPolicy(l);
    await assert.rejects(
      policy.execute(() => Promise.reject(Object.assign(new Error('503'), { status: 503 }))),
    );
    await assert.rejects(policy.execute(() => Promise.reject(new TypeError('bug'))));
    assert.deepEqual(releases, ['dropped', 'ignore']);
  });

  it("uses the limiter's own classifier when it has one", async () => {
    const { limiter: l, releases } = limiter({ classify: () => 'dropped' });
    await assert.rejects(limiterPolicy(l).execute(() => Promise.reject(new TypeError('bug'))));
    assert.deepEqual(releases, ['dropped']);
  });

  it('classify and classifyResult override the reading of errors and values', async () => {
    const { limiter: l, releases } = limiter();
    const policy = limiterPolicy(l, {
      classify: () => 'ignore',
      classifyResult: (value) => ((value as { status: number }).status === 503 ? 'dropped' : 'success'),
    });
    await policy.execute(() => ({ status: 503 }));
    await policy.execute(() => ({ status: 200 }));
    await assert.rejects(
      policy.execute(() => Promise.reject(Object.assign(new Error('503'), { status: 503 }))),
    );
    assert.deepEqual(releases, ['dropped', 'success', 'ignore']);
  });

  it('releases as ignore when a classifier throws', async () => {
    const { limiter: l, releases } = limiter();
    const policy = limiterPolicy(l, {
      classifyResult: () => {
        throw new Error('bad classifier');
      },
    });
    assert.equal(await policy.execute(() => 'value'), 'value');
    assert.deepEqual(releases, ['ignore']);
    assert.equal(l.inflight, 0);
  });

  it("queues with the call's deadline and rejects the call once it cannot start in time", async () => {
    const { limiter: l } = limiter({ queue: { timeout: 10_000 } });
    const policy = limiterPolicy(l);
    let release = (): void => {};
    const held = policy.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const late = outcome(policy.execute(() => 'ran', { deadline: 100 }));
    await clock.advanceAsync(150);
    const { error } = await late;
    assert.ok(isRejectedError(error) && error.reason === 'deadline', String(error));
    release();
    await held;
  });

  it("stops waiting when the call's signal aborts", async () => {
    const { limiter: l } = limiter({ queue: { timeout: 10_000 } });
    const policy = limiterPolicy(l);
    let release = (): void => {};
    const held = policy.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const waiting = outcome(policy.execute(() => 'ran', { signal: controller.signal }));
    await clock.advanceAsync(10);
    controller.abort();
    const { error } = await waiting;
    assert.ok(isRejectedError(error) && error.reason === 'aborted');
    release();
    await held;
  });

  it('charges the configured weight and partition', async () => {
    const l = createLimiter({ clock, limit: 10, partitions: { a: { share: 0.5 }, b: { share: 0.5 } } });
    const policy = limiterPolicy(l, { weight: 3, partition: 'b' });
    const seen = await policy.execute(() => l.snapshot().partitions);
    assert.equal(seen['b']?.inflight, 3);
    assert.equal(seen['a']?.inflight, 0);
  });

  it('rejects invalid options with a ConfigError', () => {
    const { limiter: l } = limiter();
    assert.throws(
      () => limiterPolicy({} as Limiter),
      (e) => isConfigError(e) && e.option === 'limiter',
    );
    assert.throws(
      () => limiterPolicy(l, { weight: 0 }),
      (e) => isConfigError(e) && e.option === 'weight',
    );
    assert.throws(
      () => limiterPolicy(l, { timeout: -1 }),
      (e) => isConfigError(e) && e.option === 'timeout',
    );
    assert.throws(
      () => limiterPolicy(l, { partition: '' }),
      (e) => isConfigError(e) && e.option === 'partition',
    );
    assert.throws(
      () => limiterPolicy(l, { classify: 'x' as never }),
      (e) => isConfigError(e) && e.option === 'classify',
    );
  });
});
