import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError, isRejectedError, type RejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type GlobalLimiter,
  type GlobalLimiterEvents,
  type GlobalLimiterOptions,
  type GlobalPermit,
  globalLimiter,
} from '../../src/global/limiter.ts';
import { memoryStore } from '../../src/global/memory-store.ts';
import { StoreUnavailableError } from '../../src/global/store.ts';
import { guard } from '../../src/policies/guard.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { FaultyStore } from './faulty-store.ts';

type Loose = { [K in keyof GlobalLimiterOptions]?: GlobalLimiterOptions[K] | undefined };

function setup(options: Loose = {}) {
  const clock = new VirtualClock(5_000);
  const store = new FaultyStore(memoryStore({ clock }));
  const make = (extra: Loose = {}) =>
    globalLimiter({
      store,
      key: 'api',
      limit: 4,
      clock,
      random: () => 0.5,
      fallback: { instances: 2 },
      ...options,
      ...extra,
    } as GlobalLimiterOptions);
  return { clock, store, make };
}

async function rejection(promise: Promise<unknown>): Promise<RejectedError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isRejectedError(error), `not a RejectedError: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

function record<K extends keyof GlobalLimiterEvents & string>(
  limiter: GlobalLimiter,
  name: K,
): GlobalLimiterEvents[K][] {
  const events: GlobalLimiterEvents[K][] = [];
  limiter.on(name, (e) => events.push(e));
  return events;
}

describe('globalLimiter: concurrency', () => {
  it('grants up to the limit across instances sharing a store, and refuses beyond with a retry hint', async () => {
    const { make } = setup();
    const a = make();
    const b = make();
    const permits = [await a.acquire(), await b.acquire(), await a.acquire(), await b.acquire()];
    assert.deepEqual(
      permits.map((p) => p.source),
      ['global', 'global', 'global', 'global'],
    );
    const refused = await rejection(a.acquire());
    assert.equal(refused.reason, 'limit');
    assert.equal(refused.limit, 4);
    assert.equal(refused.inflight, 4);
    assert.ok(refused.retryAfterMs > 0);
    assert.match(refused.message, /global limit "api" reached \(limit 4, held 4\)/);
    permits[0]!.release();
    await Promise.resolve();
    assert.equal((await b.acquire()).source, 'global');
    assert.equal(a.inflight + b.inflight, 4);
  });

  it('gives a released permit back to the store once, however often it is released', async () => {
    const { store, make } = setup();
    const a = make();
    const p = await a.acquire();
    assert.equal(await store.inner.held('api'), 1);
    p.release();
    p.release();
    assert.equal(p.released, true);
    assert.equal(a.inflight, 0);
    assert.equal(await store.inner.held('api'), 0);
  });

  it('waits for a lease up to `wait`, polling the store, then refuses', async () => {
    const { clock, make } = setup({ wait: 200, pollInterval: 20 });
    const a = make();
    const held = [await a.acquire(), await a.acquire(), await a.acquire(), await a.acquire()];
    const waiting = a.acquire();
    await clock.advanceAsync(50);
    held[0]!.release();
    await clock.advanceAsync(20);
    assert.equal((await waiting).source, 'global');
    const refused = rejection(a.acquire());
    await clock.advanceAsync(250);
    assert.equal((await refused).reason, 'limit');
    assert.ok((await refused).waitedMs >= 180, `waited ${(await refused).waitedMs}`);
  });

  it('ends a wait at the deadline (reason "deadline") or on abort (reason "aborted")', async () => {
    const { clock, make } = setup({ wait: 10_000 });
    const a = make();
    for (let i = 0; i < 4; i++) await a.acquire();
    const late = rejection(a.acquire({ deadline: clock.now() + 100 }));
    await clock.advanceAsync(150);
    assert.equal((await late).reason, 'deadline');
    const controller = new AbortController();
    const aborted = rejection(a.acquire({ signal: controller.signal }));
    await clock.advanceAsync(10);
    controller.abort();
    assert.equal((await aborted).reason, 'aborted');
  });

  it('renews a held lease on the clock, so work longer than the lease life keeps its place', async () => {
    const { clock, store, make } = setup({ leaseTtl: 300, heartbeat: 100 });
    const a = make();
    const p = await a.acquire();
    await clock.advanceAsync(2_000);
    assert.equal(await store.inner.held('api'), 1);
    assert.equal(p.lost, false);
    p.release();
    await clock.advanceAsync(1);
    assert.equal(await store.inner.held('api'), 0);
  });

  it('reclaims the leases of an instance that died, once they expire, and says so', async () => {
    const { clock, store, make } = setup({ leaseTtl: 1_000 });
    // A dead instance: its leases are in the store and nobody renews them.
    for (let i = 0; i < 4; i++) await store.inner.acquire('api', 4, 1_000);
    const a = make();
    const reclaims = record(a, 'reclaim');
    assert.equal((await rejection(a.acquire())).reason, 'limit');
    await clock.advanceAsync(1_000);
    assert.equal((await a.acquire()).source, 'global');
    assert.deepEqual(
      reclaims.map((e) => e.reclaimed),
      [4],
    );
  });

  it('marks a permit lost when a heartbeat finds its lease gone from the store', async () => {
    const { clock, store, make } = setup({ leaseTtl: 300, heartbeat: 100 });
    const a = make();
    const lost = record(a, 'lost');
    const p = await a.acquire();
    await store.inner.release('api', p.lease!);
    await clock.advanceAsync(100);
    assert.equal(p.lost, true);
    assert.deepEqual(
      lost.map((e) => e.lease),
      [p.lease],
    );
  });

  it('reads a Limit at each acquire, so an adaptive or pressure-capped limit moves the global one', async () => {
    const limit = new ManualLimit(3);
    const { make } = setup({ limit });
    const a = make();
    for (let i = 0; i < 3; i++) await a.acquire();
    assert.equal((await rejection(a.acquire())).limit, 3);
    limit.set(4);
    assert.equal((await a.acquire()).source, 'global');
  });

  it('runs as a guard stage: acquires with the call deadline and signal, releases when the work ends', async () => {
    const { store, make } = setup();
    const a = make();
    const g = guard(a);
    const value = await g.execute(async () => {
      assert.equal(await store.inner.held('api'), 1);
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(a.inflight, 0);
    await assert.rejects(
      g.execute(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(a.inflight, 0);
    assert.equal(await store.inner.held('api'), 0);
  });

  it('releases the leases still held on close, and refuses afterwards', async () => {
    const { store, make } = setup();
    const a = make();
    await a.acquire();
    await a.acquire();
    await a.close();
    assert.equal(await store.inner.held('api'), 0);
    assert.equal((await rejection(a.acquire())).reason, 'shed');
  });
});

describe('globalLimiter: rate', () => {
  it('grants the burst, then one permit per 1/rate seconds, across instances', async () => {
    const { clock, make } = setup({ limit: undefined, rate: 10, burst: 3 });
    const a = make();
    const b = make();
    for (let i = 0; i < 3; i++) assert.equal((await (i % 2 ? a : b).acquire()).source, 'global');
    const refused = await rejection(a.acquire());
    assert.equal(refused.reason, 'limit');
    assert.equal(refused.retryAfterMs, 100);
    await clock.advanceAsync(100);
    assert.equal((await b.acquire()).source, 'global');
    assert.equal((await rejection(a.acquire())).reason, 'limit');
  });

  it('waits for the next token when allowed to', async () => {
    const { clock, make } = setup({ limit: undefined, rate: 10, burst: 1, wait: 500 });
    const a = make();
    await a.acquire();
    const next = a.acquire();
    await clock.advanceAsync(100);
    assert.equal((await next).source, 'global');
  });

  it('charges a cost in tokens, and refuses a cost above the burst at once', async () => {
    const { make } = setup({ limit: undefined, rate: 1, burst: 5 });
    const a = make();
    await a.acquire({ cost: 4 });
    assert.equal((await rejection(a.acquire({ cost: 2 }))).reason, 'limit');
    await assert.rejects(a.acquire({ cost: 6 }), RangeError);
  });
});

describe('globalLimiter: fallback', () => {
  it('falls back to its local share when the store hangs past the timeout, and says why', async () => {
    const { clock, store, make } = setup({ timeout: 50 });
    const a = make();
    const modes = record(a, 'mode');
    store.stall();
    const first = a.acquire();
    await clock.advanceAsync(50);
    assert.equal((await first).source, 'local');
    assert.equal(a.mode, 'fallback');
    assert.equal(modes.length, 1);
    assert.equal(modes[0]!.mode, 'fallback');
    assert.equal(modes[0]!.localLimit, 2);
    assert.ok(modes[0]!.error instanceof StoreUnavailableError);
    assert.equal(modes[0]!.error.timeoutMs, 50);
    // Limit 4 over 2 instances: 2 here, decided locally without asking the store.
    const calls = store.calls;
    assert.equal((await a.acquire()).source, 'local');
    const refused = await rejection(a.acquire());
    assert.equal(refused.reason, 'limit');
    assert.equal(refused.limit, 2);
    assert.match(refused.message, /fallback local-share/);
    assert.equal(store.calls, calls);
  });

  it('counts permits taken from the store against the local share', async () => {
    const { clock, store, make } = setup({ timeout: 50, limit: 6, fallback: { instances: 3 } });
    const a = make();
    const held = [await a.acquire(), await a.acquire()];
    store.fail();
    assert.equal((await rejection(a.acquire())).reason, 'limit', 'two held, share two: nothing more');
    held[0]!.release();
    await clock.advanceAsync(1);
    assert.equal((await a.acquire()).source, 'local');
  });

  it('falls back at once when the store refuses the connection', async () => {
    const { store, make } = setup();
    const a = make();
    store.fail();
    assert.equal((await a.acquire()).source, 'local');
    assert.equal(a.mode, 'fallback');
  });

  it('probes the store every probeInterval and rejoins on the first answer', async () => {
    const { clock, store, make } = setup({ timeout: 50, probeInterval: 1_000 });
    const a = make();
    const modes = record(a, 'mode');
    store.fail();
    const local = await a.acquire();
    await clock.advanceAsync(1_000);
    assert.equal(a.mode, 'fallback', 'the store still fails');
    store.restore();
    await clock.advanceAsync(1_000);
    assert.equal(a.mode, 'global');
    assert.deepEqual(
      modes.map((m) => [m.previous, m.mode]),
      [
        ['global', 'fallback'],
        ['fallback', 'global'],
      ],
    );
    assert.equal((await a.acquire()).source, 'global');
    // A permit from the local share is given back here only; the store never knew it.
    local.release();
    assert.equal(a.inflight, 1);
  });

  it('keeps to its share for one probe interval after rejoining, while the others rejoin', async () => {
    const { clock, store, make } = setup({ probeInterval: 1_000 });
    const a = make();
    store.fail();
    await a.acquire();
    store.restore();
    await clock.advanceAsync(1_000);
    assert.equal(a.mode, 'global');
    // Limit 4 over 2 instances: one local permit still held, one more from the store, then the share is full.
    assert.equal((await a.acquire()).source, 'global');
    const refused = await rejection(a.acquire());
    assert.equal(refused.reason, 'limit');
    assert.equal(await store.inner.held('api'), 1);
    await clock.advanceAsync(1_000);
    assert.equal((await a.acquire()).source, 'global', 'the grace is over: the store decides alone');
  });

  it('gives back a lease granted after its acquire timed out', async () => {
    const { clock, store, make } = setup({ timeout: 50 });
    const a = make();
    store.stall();
    const p = a.acquire();
    await clock.advanceAsync(50);
    assert.equal((await p).source, 'local');
    store.restore(); // the held acquire runs now and is granted: nobody holds it
    await clock.advanceAsync(1);
    assert.equal(await store.inner.held('api'), 0);
  });

  it('keeps a lease through a store outage shorter than its life: heartbeats fail and resume', async () => {
    const { clock, store, make } = setup({
      timeout: 50,
      leaseTtl: 3_000,
      heartbeat: 500,
      probeInterval: 200,
    });
    const a = make();
    const p = await a.acquire();
    store.fail();
    await clock.advanceAsync(1_200);
    assert.equal(a.mode, 'fallback');
    store.restore();
    await clock.advanceAsync(1_000);
    assert.equal(a.mode, 'global');
    assert.equal(p.lost, false);
    assert.equal(await store.inner.held('api'), 1);
  });

  it('admits everything on an open fallback', async () => {
    const { store, make } = setup({ fallback: { mode: 'open' } });
    const a = make();
    store.fail();
    const permits: GlobalPermit[] = [];
    for (let i = 0; i < 10; i++) permits.push(await a.acquire());
    assert.ok(permits.every((p) => p.source === 'open'));
    assert.equal(a.snapshot().localLimit, Number.POSITIVE_INFINITY);
  });

  it('refuses everything on a closed fallback, with reason "shed"', async () => {
    const { store, make } = setup({ fallback: { mode: 'closed' } });
    const a = make();
    store.fail();
    const refused = await rejection(a.acquire());
    assert.equal(refused.reason, 'shed');
    assert.match(refused.message, /unavailable and the fallback is closed/);
  });

  it('takes a configured share instead of one per instance', async () => {
    const { store, make } = setup({ limit: 10, fallback: { share: 0.35 } });
    const a = make();
    store.fail();
    await a.acquire();
    await a.acquire();
    await a.acquire();
    assert.equal((await rejection(a.acquire())).limit, 3);
  });

  it('limits a rate to its share on the fallback, starting from an empty bucket', async () => {
    const { clock, store, make } = setup({
      limit: undefined,
      rate: 100,
      burst: 20,
      fallback: { instances: 4 },
    });
    const a = make();
    store.fail();
    // 25 per second here: the first token after 40 ms, then 5 at most (the local burst) after a pause.
    const first = await rejection(a.acquire());
    assert.equal(first.retryAfterMs, 40);
    await clock.advanceAsync(40);
    assert.equal((await a.acquire()).source, 'local');
    await clock.advanceAsync(10_000);
    let granted = 0;
    for (let i = 0; i < 10; i++) {
      try {
        await a.acquire();
        granted++;
      } catch {}
    }
    assert.equal(granted, 5);
  });
});

describe('globalLimiter: options', () => {
  const store = memoryStore();
  it('asks for the expected instances (or a share) of a local-share fallback', () => {
    assert.throws(
      () => globalLimiter({ store, key: 'k', limit: 1, fallback: {} }),
      (e) => isConfigError(e) && e.option === 'fallback.instances',
    );
    assert.throws(() => globalLimiter({ store, key: 'k', limit: 1 } as never), isConfigError);
  });

  it('takes a concurrency limit or a rate, not both', () => {
    const fallback = { mode: 'closed' as const };
    assert.throws(() => globalLimiter({ store, key: 'k', limit: 1, rate: 1, fallback }), isConfigError);
    assert.throws(() => globalLimiter({ store, key: 'k', fallback }), isConfigError);
    assert.throws(() => globalLimiter({ store, key: 'k', limit: 1, burst: 3, fallback }), isConfigError);
    assert.throws(() => globalLimiter({ store, key: 'k', limit: 1.5, fallback }), isConfigError);
  });

  it('rejects a heartbeat no shorter than the lease life, and a share outside (0, 1]', () => {
    assert.throws(
      () =>
        globalLimiter({
          store,
          key: 'k',
          limit: 1,
          leaseTtl: 100,
          heartbeat: 100,
          fallback: { instances: 1 },
        }),
      (e) => isConfigError(e) && e.option === 'heartbeat',
    );
    assert.throws(() => globalLimiter({ store, key: 'k', limit: 1, fallback: { share: 0 } }), isConfigError);
    assert.throws(
      () => globalLimiter({ store, key: 'k', limit: 1, fallback: { share: 1.5 } }),
      isConfigError,
    );
    assert.throws(
      () => globalLimiter({ store, key: '', limit: 1, fallback: { instances: 1 } }),
      isConfigError,
    );
  });
});
