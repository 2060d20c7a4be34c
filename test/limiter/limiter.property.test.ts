import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import type { LimiterOptions, Permit } from '../../src/limiter/types.ts';
import { ManualLimit, settle } from '../helpers/manual-limit.ts';

type Command =
  | {
      kind: 'acquire';
      priority: number;
      weight: number;
      partition: number;
      key: number;
      timeout: number;
      abortable: boolean;
    }
  | { kind: 'try'; priority: number; weight: number; partition: number }
  | { kind: 'release'; index: number; outcome: 'success' | 'dropped' | 'ignore' }
  | { kind: 'advance'; ms: number }
  | { kind: 'limit'; value: number }
  | { kind: 'abort'; index: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      priority: fc.integer({ min: 0, max: 4 }),
      weight: fc.constantFrom(1, 1, 1, 2, 3),
      partition: fc.integer({ min: 0, max: 1 }),
      key: fc.integer({ min: 0, max: 3 }),
      timeout: fc.constantFrom(20, 50, 200, 1000),
      abortable: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('try' as const),
      priority: fc.integer({ min: 0, max: 4 }),
      weight: fc.constantFrom(1, 2),
      partition: fc.integer({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('release' as const),
      index: fc.nat(),
      outcome: fc.constantFrom('success' as const, 'dropped' as const, 'ignore' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 120 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('limit' as const), value: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), index: fc.nat() }) },
);

interface Tracked {
  readonly id: number;
  readonly priority: number;
  readonly partition: string;
  readonly enqueuedAt: number;
  readonly timeout: number;
  readonly controller: AbortController | undefined;
  settledCount: number;
  outcome: 'pending' | 'granted' | 'rejected';
  permit?: Permit;
  grantedAt?: number;
}

const scenario = fc.record({
  commands: fc.array(command, { minLength: 1, maxLength: 80 }),
  partitioned: fc.boolean(),
  target: fc.constantFrom(false as const, 30, 'auto' as const),
  drop: fc.constantFrom('newest' as const, 'oldest' as const, 'priority' as const),
  size: fc.integer({ min: 0, max: 6 }),
  initial: fc.integer({ min: 1, max: 6 }),
});

interface Scenario {
  readonly commands: Command[];
  readonly partitioned: boolean;
  readonly target: false | number | 'auto';
  readonly drop: 'newest' | 'oldest' | 'priority';
  readonly size: number;
  readonly initial: number;
}

async function play(s: Scenario): Promise<void> {
  const clock = new VirtualClock();
  const manual = new ManualLimit(s.initial);
  const options: LimiterOptions = {
    clock,
    limit: manual,
    queue: { size: s.size, target: s.target, drop: s.drop, interval: 100, timeout: 1000 },
    ...(s.partitioned ? { partitions: { a: { share: 0.5 }, b: { share: 0.3, maxShare: 0.8 } } } : {}),
  };
  const limiter = createLimiter(options);
  const names = s.partitioned ? ['a', 'b'] : [undefined];
  const all: Tracked[] = [];
  const held: Tracked[] = [];

  const checkAfter = (grantedBefore: number, grantedBBefore: number) => {
    const granted = all.filter((t) => t.outcome === 'granted').length;
    if (granted > grantedBefore) {
      // Whatever was admitted during this step was admitted within the limit in force.
      assert.ok(
        limiter.inflight <= manual.current + 1e-9,
        `in flight ${limiter.inflight} > limit ${manual.current}`,
      );
    }
    const grantedB = all.filter((t) => t.outcome === 'granted' && t.partition === 'b').length;
    if (s.partitioned && grantedB > grantedBBefore) {
      const snap = limiter.snapshot();
      assert.ok(snap.partitions['b']!.inflight <= 0.8 * manual.current + 1e-9, 'partition b over its cap');
    }
    // In-flight is exactly what the held permits charge.
    const charged = held.reduce((sum, t) => sum + (t.permit!.released ? 0 : t.permit!.weight), 0);
    assert.ok(
      Math.abs(charged - limiter.inflight) < 1e-9,
      `in flight ${limiter.inflight} != held ${charged}`,
    );
    assert.ok(limiter.queued <= s.size, 'queue over its size');
  };

  for (const c of s.commands) {
    const before = all.filter((t) => t.outcome === 'granted').length;
    const beforeB = all.filter((t) => t.outcome === 'granted' && t.partition === 'b').length;
    const pendingBefore = all.filter((t) => t.outcome === 'pending');
    switch (c.kind) {
      case 'acquire': {
        const controller = c.abortable ? new AbortController() : undefined;
        const partition = names[c.partition % names.length];
        const t: Tracked = {
          id: all.length,
          priority: c.priority,
          partition: partition ?? 'default',
          enqueuedAt: clock.now(),
          timeout: c.timeout,
          controller,
          settledCount: 0,
          outcome: 'pending',
        };
        all.push(t);
        limiter
          .acquire({
            priority: c.priority,
            weight: c.weight,
            key: `k${c.key}`,
            timeout: c.timeout,
            ...(partition === undefined ? {} : { partition }),
            ...(controller === undefined ? {} : { signal: controller.signal }),
          })
          .then(
            (permit) => {
              t.settledCount++;
              t.outcome = 'granted';
              t.permit = permit;
              t.grantedAt = permit.startedAt;
              held.push(t);
            },
            (error) => {
              assert.ok(isRejectedError(error), String(error));
              t.settledCount++;
              t.outcome = 'rejected';
            },
          );
        break;
      }
      case 'try': {
        const partition = names[c.partition % names.length];
        const p = limiter.tryAcquire({
          priority: c.priority,
          weight: c.weight,
          ...(partition === undefined ? {} : { partition }),
        });
        if (p !== undefined) {
          const t: Tracked = {
            id: all.length,
            priority: c.priority,
            partition: partition ?? 'default',
            enqueuedAt: clock.now(),
            timeout: 0,
            controller: undefined,
            settledCount: 1,
            outcome: 'granted',
            permit: p,
            grantedAt: clock.now(),
          };
          all.push(t);
          held.push(t);
        }
        break;
      }
      case 'release': {
        const live = held.filter((t) => !t.permit!.released);
        const t = live[c.index % Math.max(1, live.length)];
        if (t !== undefined) t.permit!.release(c.outcome);
        break;
      }
      case 'advance':
        clock.advance(c.ms);
        break;
      case 'limit':
        manual.set(c.value);
        break;
      case 'abort': {
        const abortable = all.filter((t) => t.controller !== undefined);
        abortable[c.index % Math.max(1, abortable.length)]?.controller?.abort();
        break;
      }
    }
    await settle();
    checkAfter(before, beforeB);

    // Priority is honoured: nothing admitted from the queue in this step while a more important waiter of the
    // same partition, already waiting before the step, is still waiting.
    for (const t of pendingBefore) {
      if (t.outcome !== 'granted' || s.partitioned) continue;
      for (const other of all) {
        if (other.outcome === 'pending' && other.id < all.length && pendingBefore.includes(other)) {
          assert.ok(
            other.priority >= t.priority,
            `priority ${t.priority} admitted while ${other.priority} waits`,
          );
        }
      }
    }
  }

  // Drain: release everything, let every waiter be admitted or expire. Nothing is lost.
  for (let round = 0; round < 200 && (limiter.queued > 0 || limiter.inflight > 0); round++) {
    for (const t of held) if (!t.permit!.released) t.permit!.success();
    clock.advance(50);
    await settle();
  }
  for (const t of held) if (!t.permit!.released) t.permit!.success();
  await settle();
  assert.equal(limiter.queued, 0);
  assert.equal(limiter.inflight, 0);
  assert.equal(clock.pending, 0, 'no timer left behind');
  for (const t of all) {
    assert.equal(t.settledCount, 1, `request ${t.id} settled ${t.settledCount} times`);
    assert.notEqual(t.outcome, 'pending');
    if (t.outcome === 'granted' && t.grantedAt !== undefined && t.timeout > 0) {
      assert.ok(t.grantedAt - t.enqueuedAt < t.timeout, `request ${t.id} admitted after its timeout`);
    }
  }
}

describe('limiter: properties', () => {
  it('settles every request exactly once, loses no waiter, and never exceeds the limit or a partition cap', async () => {
    await fc.assert(fc.asyncProperty(scenario, play), { numRuns: 300 });
  });
});
