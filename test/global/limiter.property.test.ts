import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { type GlobalLimiter, type GlobalPermit, globalLimiter } from '../../src/global/limiter.ts';
import { memoryStore } from '../../src/global/memory-store.ts';
import { FaultyStore } from './faulty-store.ts';

type Command =
  | { kind: 'acquire'; instance: number }
  | { kind: 'release'; index: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'fail' }
  | { kind: 'stall' }
  | { kind: 'restore' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('acquire' as const), instance: fc.nat({ max: 3 }) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), index: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  },
  { weight: 2, arbitrary: fc.constantFrom({ kind: 'fail' as const }, { kind: 'stall' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
);

describe('globalLimiter (property)', () => {
  const seen = { global: 0, local: 0, open: 0 };
  after(() => {
    // The commands reach both sides: grants from the store and from the local share.
    assert.ok(seen.global > 100 && seen.local > 50, JSON.stringify(seen));
  });

  it('never holds more global permits than the limit, and on its fallback never more than its share', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(command, { minLength: 1, maxLength: 60 }),
        async (limit, instances, commands) => {
          const clock = new VirtualClock();
          const store = new FaultyStore(memoryStore({ clock }));
          const share = Math.floor(limit / instances);
          const limiters: GlobalLimiter[] = Array.from({ length: instances }, () =>
            globalLimiter({
              store,
              key: 'k',
              limit,
              clock,
              timeout: 50,
              probeInterval: 300,
              leaseTtl: 60_000,
              fallback: { instances },
            }),
          );
          const held: GlobalPermit[] = [];
          let global = 0;
          // Checked when each grant arrives; recorded, since a throw inside a continuation would be lost.
          const violations: string[] = [];
          for (const c of commands) {
            switch (c.kind) {
              case 'acquire': {
                const limiter = limiters[c.instance % instances]!;
                limiter.acquire().then(
                  (permit) => {
                    held.push(permit);
                    seen[permit.source]++;
                    if (permit.source === 'global') global++;
                    else if (limiter.inflight > share) {
                      violations.push(`local grant at ${limiter.inflight} held, share ${share}`);
                    }
                    if (global > limit) violations.push(`${global} global permits held, limit ${limit}`);
                  },
                  () => {},
                );
                break;
              }
              case 'release': {
                if (held.length === 0) break;
                const [permit] = held.splice(c.index % held.length, 1);
                if (permit!.source === 'global') global--;
                permit!.release();
                break;
              }
              case 'advance':
                await clock.advanceAsync(c.ms);
                break;
              case 'fail':
                store.fail();
                break;
              case 'stall':
                store.stall();
                break;
              case 'restore':
                store.restore();
                break;
            }
            await clock.advanceAsync(0);
            assert.deepEqual(violations, []);
            assert.ok((await store.inner.held('k')) <= limit);
          }
          // Nothing leaks: once everything is released, every lease leaves the store (at the latest when its
          // release was lost to an outage and it expires).
          store.restore();
          await clock.advanceAsync(1_000);
          for (const p of held) p.release();
          await clock.advanceAsync(61_000);
          assert.equal(await store.inner.held('k'), 0);
          for (const l of limiters) {
            assert.equal(l.inflight, 0);
            await l.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
