import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GlobalStore } from '../../src/global/store.ts';

/**
 * The one test suite every global store passes: the memory store on a virtual clock, and the Redis store
 * on the server's real time. The same assertions hold for both; time-dependent ones allow `slack` ms of
 * unasked time between two calls (0 on a virtual clock).
 */
export interface StoreHarness {
  readonly store: GlobalStore;
  /** Lets at least `ms` pass on the store's time. */
  elapse(ms: number): Promise<void>;
  /** Most store time that may pass unasked across a few calls (ms). */
  readonly slack: number;
  /** A key no other test uses. */
  key(): string;
  /** Property-test runs: fewer on a real server. */
  readonly runs: number;
}

/** A bucket that refills too slowly to matter within a test (one token in 1000 s). */
const FROZEN = { rate: 0.001, burst: 20 };
/** A lease life longer than any test. */
const LONG = 60_000;

/** Operations of one caller in the property tests. */
type LeaseOp = { kind: 'acquire' } | { kind: 'release'; index: number };

export function storeContract(
  label: string,
  harness: () => StoreHarness,
  options: { skip?: string | false } = {},
): void {
  describe(`global store contract: ${label}`, { skip: options.skip ?? false }, () => {
    describe('token bucket', () => {
      it('starts full: grants burst tokens at once, then refuses with the time until the next token', async () => {
        const h = harness();
        const key = h.key();
        const bucket = { rate: 1, burst: 5 };
        for (let i = 0; i < 5; i++) {
          const r = await h.store.take(key, 1, bucket);
          assert.equal(r.granted, true, `take ${i + 1}`);
        }
        const refused = await h.store.take(key, 1, bucket);
        assert.equal(refused.granted, false);
        assert.ok(refused.remaining >= 0 && refused.remaining < 1, `remaining ${refused.remaining}`);
        // One token per second: the next is due a second after the bucket emptied, less what has refilled.
        assert.ok(
          refused.retryAfterMs <= 1000 && refused.retryAfterMs >= 1000 - h.slack - 1,
          `retryAfterMs ${refused.retryAfterMs}`,
        );
      });

      it('takes all or nothing: a refused take leaves the tokens in the bucket', async () => {
        const h = harness();
        const key = h.key();
        const bucket = { rate: 0.001, burst: 5 };
        assert.equal((await h.store.take(key, 3, bucket)).granted, true);
        const refused = await h.store.take(key, 3, bucket);
        assert.equal(refused.granted, false);
        assert.ok(Math.abs(refused.remaining - 2) < 0.01, `remaining ${refused.remaining}`);
        const rest = await h.store.take(key, 2, bucket);
        assert.equal(rest.granted, true);
        assert.ok(rest.remaining < 0.01, `remaining ${rest.remaining}`);
      });

      it('refills at rate tokens per second, never beyond burst', async () => {
        const h = harness();
        const key = h.key();
        const bucket = { rate: 100, burst: 10 };
        assert.equal((await h.store.take(key, 10, bucket)).granted, true);
        await h.elapse(50); // 5 tokens
        const r = await h.store.take(key, 1, bucket);
        assert.equal(r.granted, true);
        const expected = 4;
        assert.ok(
          r.remaining >= expected - 1e-6 && r.remaining <= expected + (h.slack * bucket.rate) / 1000,
          `remaining ${r.remaining}, expected ${expected} (+ ${h.slack} ms of refill)`,
        );
        await h.elapse(1000); // far more than the bucket holds
        const full = await h.store.take(key, 1, bucket);
        assert.ok(Math.abs(full.remaining - 9) < 1e-6, `remaining ${full.remaining}`);
      });

      it('caps the tokens held at a burst lowered since the last take', async () => {
        const h = harness();
        const key = h.key();
        assert.equal((await h.store.take(key, 1, { rate: 0.001, burst: 10 })).granted, true);
        const r = await h.store.take(key, 3, { rate: 0.001, burst: 3 });
        assert.equal(r.granted, true);
        assert.ok(r.remaining < 0.01, `remaining ${r.remaining}`);
      });

      it('grants exactly the tokens held to many concurrent callers', async () => {
        const h = harness();
        const key = h.key();
        const results = await Promise.all(Array.from({ length: 50 }, () => h.store.take(key, 1, FROZEN)));
        assert.equal(results.filter((r) => r.granted).length, FROZEN.burst);
      });

      it('never grants more than burst plus refill, under any interleaving of concurrent takes (property)', async () => {
        const h = harness();
        await fc.assert(
          fc.asyncProperty(
            fc.scheduler(),
            fc.array(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 5 }), {
              minLength: 2,
              maxLength: 6,
            }),
            async (s, callers) => {
              const key = h.key();
              let granted = 0;
              const caller = async (takes: number[]): Promise<void> => {
                for (const n of takes) {
                  await s.schedule(Promise.resolve(`take ${n}`));
                  const r = await h.store.take(key, n, FROZEN);
                  if (r.granted) {
                    granted += n;
                    assert.ok(r.remaining >= 0, `remaining ${r.remaining} after a grant`);
                  } else {
                    assert.ok(r.remaining < n, `refused ${n} with ${r.remaining} tokens in the bucket`);
                  }
                }
              };
              await s.waitFor(Promise.all(callers.map(caller)));
              assert.ok(granted <= FROZEN.burst + 0.01, `granted ${granted} of ${FROZEN.burst}`);
              // What is left is what was not granted: nothing lost, nothing counted twice.
              const last = await h.store.take(key, FROZEN.burst, FROZEN);
              const left = last.granted ? FROZEN.burst : last.remaining;
              assert.ok(Math.abs(left - (FROZEN.burst - granted)) < 0.01, `left ${left}, granted ${granted}`);
            },
          ),
          { numRuns: h.runs },
        );
      });
    });

    describe('leases', () => {
      it('grants distinct leases up to the limit, then refuses with the time until the earliest expiry', async () => {
        const h = harness();
        const key = h.key();
        const ids = new Set<string>();
        for (let i = 1; i <= 3; i++) {
          const r = await h.store.acquire(key, 3, 1000);
          assert.ok(r.id !== undefined, `lease ${i}`);
          assert.equal(r.held, i);
          ids.add(r.id);
        }
        assert.equal(ids.size, 3);
        const refused = await h.store.acquire(key, 3, 1000);
        assert.equal(refused.id, undefined);
        assert.equal(refused.held, 3);
        assert.ok(
          refused.retryAfterMs <= 1000 && refused.retryAfterMs >= 1000 - h.slack - 1,
          `retryAfterMs ${refused.retryAfterMs}`,
        );
        assert.equal(await h.store.held(key), 3);
      });

      it('frees a slot on release; releasing the same lease again reports false', async () => {
        const h = harness();
        const key = h.key();
        const a = await h.store.acquire(key, 1, LONG);
        assert.equal((await h.store.acquire(key, 1, LONG)).id, undefined);
        assert.equal(await h.store.release(key, a.id!), true);
        assert.equal(await h.store.release(key, a.id!), false);
        assert.equal(await h.store.held(key), 0);
        assert.ok((await h.store.acquire(key, 1, LONG)).id !== undefined);
        assert.equal(await h.store.renew(key, 'never-granted', LONG), false);
      });

      it('grants exactly the limit to many concurrent callers', async () => {
        const h = harness();
        const key = h.key();
        const results = await Promise.all(Array.from({ length: 40 }, () => h.store.acquire(key, 7, LONG)));
        const granted = results.filter((r) => r.id !== undefined);
        assert.equal(granted.length, 7);
        assert.equal(new Set(granted.map((r) => r.id)).size, 7);
        for (const r of results) if (r.id === undefined) assert.equal(r.held, 7);
        assert.equal(await h.store.held(key), 7);
      });

      it('reclaims the expired leases of a dead instance on the next acquire', async () => {
        const h = harness();
        const key = h.key();
        const a = await h.store.acquire(key, 2, 100);
        await h.store.acquire(key, 2, 100);
        assert.equal((await h.store.acquire(key, 2, 100)).id, undefined);
        await h.elapse(100);
        assert.equal(await h.store.held(key), 0, 'expired leases are not counted');
        const r = await h.store.acquire(key, 2, LONG);
        assert.ok(r.id !== undefined);
        assert.equal(r.reclaimed, 2);
        assert.equal(r.held, 1);
        assert.equal(await h.store.renew(key, a.id!, LONG), false, 'an expired lease cannot be renewed');
        assert.equal(await h.store.release(key, a.id!), false);
      });

      it('keeps a renewed lease alive past its first expiry, and lets it go once renewals stop', async () => {
        const h = harness();
        const key = h.key();
        const ttl = 600;
        const a = await h.store.acquire(key, 1, ttl);
        await h.elapse(300);
        assert.equal(await h.store.renew(key, a.id!, ttl), true);
        await h.elapse(300); // 600 since the grant: expired without the renewal
        assert.equal(await h.store.held(key), 1);
        assert.equal((await h.store.acquire(key, 1, ttl)).id, undefined);
        await h.elapse(400); // 700 since the renewal
        assert.equal(await h.store.held(key), 0);
        assert.equal(await h.store.renew(key, a.id!, ttl), false);
      });

      it('never holds more than the limit, under any interleaving of acquires and releases (property)', async () => {
        const h = harness();
        const op: fc.Arbitrary<LeaseOp> = fc.oneof(
          { weight: 3, arbitrary: fc.constant({ kind: 'acquire' as const }) },
          { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), index: fc.nat() }) },
        );
        await fc.assert(
          fc.asyncProperty(
            fc.scheduler(),
            fc.integer({ min: 1, max: 4 }),
            fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 6 }),
            async (s, limit, callers) => {
              const key = h.key();
              // Granted leases whose release has not been sent: all of them are in the store.
              const live = new Set<string>();
              let max = 0;
              const caller = async (ops: LeaseOp[]): Promise<void> => {
                const mine: string[] = [];
                for (const o of ops) {
                  await s.schedule(Promise.resolve(o.kind));
                  if (o.kind === 'acquire') {
                    const r = await h.store.acquire(key, limit, LONG);
                    if (r.id === undefined) {
                      assert.equal(r.held, limit, 'refused below the limit');
                      continue;
                    }
                    assert.ok(r.held <= limit, `held ${r.held} > limit ${limit}`);
                    live.add(r.id);
                    max = Math.max(max, live.size);
                    assert.ok(live.size <= limit, `${live.size} leases held at once, limit ${limit}`);
                    mine.push(r.id);
                  } else if (mine.length > 0) {
                    const [id] = mine.splice(o.index % mine.length, 1);
                    live.delete(id!);
                    assert.equal(await h.store.release(key, id!), true);
                  }
                }
                for (const id of mine) {
                  live.delete(id);
                  await h.store.release(key, id);
                }
              };
              await s.waitFor(Promise.all(callers.map(caller)));
              assert.equal(await h.store.held(key), 0, 'every lease released');
              assert.ok(max <= limit);
            },
          ),
          { numRuns: h.runs },
        );
      });
    });

    it('answers a ping', async () => {
      await harness().store.ping();
    });
  });
}
