import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createBatcher } from '../../src/batch/batcher.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { type Call, FakeSink, track } from './helpers.ts';

interface Item {
  readonly id: number;
  readonly key: number | undefined;
}

type Command =
  | { readonly kind: 'add'; readonly key: number | undefined; readonly abortable: boolean }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'abort'; readonly index: number }
  | { readonly kind: 'flush' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      key: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      abortable: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 60 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
);

const config = fc.record({
  concurrency: fc.integer({ min: 1, max: 3 }),
  maxSize: fc.integer({ min: 1, max: 8 }),
  capacity: fc.integer({ min: 1, max: 24 }),
  overflow: fc.constantFrom('wait' as const, 'reject' as const),
  maxWaiting: fc.integer({ min: 0, max: 6 }),
  attempts: fc.integer({ min: 1, max: 4 }),
  maxWait: fc.integer({ min: 0, max: 60 }),
  linger: fc.constantFrom(0, 0.5, 2),
  targetLatency: fc.integer({ min: 5, max: 100 }),
  keyed: fc.boolean(),
  latencies: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }),
  failures: fc.array(fc.constantFrom('ok', 'ok', 'retryable', 'fatal'), { minLength: 1, maxLength: 12 }),
  poison: fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 4 }),
});

type Config = typeof config extends fc.Arbitrary<infer C> ? C : never;

/** Runs the commands, closes, and returns what the sink saw and how every add() ended. */
async function run(c: Config, commands: readonly Command[]) {
  const clock = new VirtualClock();
  const poison = new Set(c.poison);
  const sink = new FakeSink<Item>(clock, {
    latency: (_items, call) => c.latencies[call % c.latencies.length]!,
    fail: (_items, call) => {
      const f = c.failures[call % c.failures.length];
      if (f === 'retryable') return new Error(`retryable ${call}`);
      if (f === 'fatal') return Object.assign(new Error(`fatal ${call}`), { retryable: false });
      return undefined;
    },
    poison: (items) => {
      const failed = new Map<number, unknown>();
      items.forEach((item, i) => {
        if (poison.has(item.id)) failed.set(i, new Error(`poison ${item.id}`));
      });
      return failed.size > 0 ? failed : undefined;
    },
  });
  const batcher = createBatcher<Item>({
    clock,
    flush: sink.flush,
    concurrency: c.concurrency,
    maxSize: c.maxSize,
    initialSize: Math.min(c.maxSize, 2),
    capacity: c.capacity,
    overflow: c.overflow,
    maxWaiting: c.maxWaiting,
    maxWait: c.maxWait,
    linger: c.linger,
    targetLatency: c.targetLatency,
    retry: { attempts: c.attempts, backoff: constantBackoff({ delay: 15 }) },
    ...(c.keyed ? { key: (item: Item) => item.key } : {}),
  });
  const added: { item: Item; addedAt: number; result: ReturnType<typeof track>; abort?: AbortController }[] =
    [];
  let maxHeld = 0;
  let maxWaiting = 0;
  for (const cmd of commands) {
    if (cmd.kind === 'add') {
      const item = { id: added.length, key: cmd.key };
      const abort = cmd.abortable ? new AbortController() : undefined;
      const result = track(batcher.add(item, abort === undefined ? {} : { signal: abort.signal }));
      added.push({ item, addedAt: clock.now(), result, ...(abort === undefined ? {} : { abort }) });
    } else if (cmd.kind === 'advance') {
      await clock.advanceAsync(cmd.ms);
    } else if (cmd.kind === 'abort') {
      const target = added.filter((a) => a.abort !== undefined);
      target[cmd.index % Math.max(1, target.length)]?.abort?.abort();
    } else {
      void batcher.flush();
    }
    const s = batcher.snapshot();
    maxHeld = Math.max(maxHeld, s.buffered + s.inflight);
    maxWaiting = Math.max(maxWaiting, s.waiting);
  }
  const closed = track(batcher.close());
  for (let i = 0; i < 200 && closed.state === 'pending'; i++) await clock.advanceAsync(100);
  assert.equal(closed.state, 'fulfilled', 'close() settles once every item has');
  return { sink, added, batcher, maxHeld, maxWaiting, poison };
}

const runs = { numRuns: 300 };

describe('batcher properties', () => {
  it('puts every added item in exactly one committed batch, or rejects it; never loses or repeats one', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(command, { maxLength: 60 }), async (c, commands) => {
        const { sink, added, batcher, poison } = await run(c, commands);
        let committed = 0;
        for (const { item, result } of added) {
          assert.notEqual(result.state, 'pending', `item ${item.id} settled`);
          const calls = sink.calls.filter((call) => call.items.some((i) => i.id === item.id));
          const successes = calls.filter((call) => call.outcome === 'success');
          assert.ok(calls.length <= c.attempts, `item ${item.id} flushed at most ${c.attempts} times`);
          assert.ok(successes.length <= 1, `item ${item.id} committed at most once`);
          if (result.state === 'fulfilled') {
            committed++;
            assert.equal(successes.length, 1, `item ${item.id} resolved only when committed`);
            assert.ok(!poison.has(item.id));
          } else if (successes.length === 1) {
            assert.ok(poison.has(item.id), `item ${item.id} rejected though its batch committed`);
          }
        }
        assert.equal(batcher.snapshot().committed, committed);
        assert.equal(batcher.held, 0);
      }),
      runs,
    );
  });

  it('never exceeds maxSize per batch, concurrency, capacity or maxWaiting', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(command, { maxLength: 60 }), async (c, commands) => {
        const { sink, maxHeld, maxWaiting } = await run(c, commands);
        for (const call of sink.calls) assert.ok(call.items.length <= c.maxSize && call.items.length > 0);
        assert.ok(sink.maxInflight <= c.concurrency);
        assert.ok(maxHeld <= c.capacity, `held ${maxHeld} <= capacity ${c.capacity}`);
        assert.ok(maxWaiting <= c.maxWaiting);
      }),
      runs,
    );
  });

  it('flushes the items of one key in order, across retries, and never two of its batches at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        config.map((c) => ({ ...c, keyed: true })),
        fc.array(command, { maxLength: 60 }),
        async (c, commands) => {
          const { sink } = await run(c, commands);
          const callsOf = new Map<number, Call<Item>[]>();
          for (const call of sink.calls) {
            for (const item of call.items) callsOf.set(item.id, [...(callsOf.get(item.id) ?? []), call]);
          }
          for (const call of sink.calls) {
            call.items.forEach((b, position) => {
              if (b.key === undefined) return;
              for (let a = 0; a < b.id; a++) {
                const earlier = callsOf.get(a);
                if (earlier === undefined || earlier[0]!.items.find((i) => i.id === a)!.key !== b.key)
                  continue;
                const at = call.items.findIndex((i) => i.id === a);
                if (at >= 0) {
                  assert.ok(at < position, `item ${a} before item ${b.id} within a batch`);
                  continue;
                }
                // A flush of b without a: every flush of a came before it, and ended before it started.
                for (const x of earlier) {
                  assert.ok(
                    x.endTick < call.startTick,
                    `item ${a} (key ${b.key}) was still or again being flushed when item ${b.id} started without it`,
                  );
                }
              }
            });
          }
        },
      ),
      runs,
    );
  });

  it('starts every item within maxWait while a flush slot is free: it waits longer only behind busy flushes', async () => {
    await fc.assert(
      fc.asyncProperty(
        config.map((c) => ({
          ...c,
          concurrency: 1,
          capacity: 100,
          overflow: 'wait' as const,
          failures: ['ok' as const],
          poison: [],
        })),
        fc.array(
          command.filter((cmd) => cmd.kind !== 'abort'),
          { maxLength: 60 },
        ),
        async (c, commands) => {
          const { sink, added } = await run(c, commands);
          const calls = [...sink.calls].sort((x, y) => x.startTick - y.startTick);
          for (const { item, addedAt } of added) {
            const first = calls.find((call) => call.items.some((i) => i.id === item.id));
            assert.ok(first !== undefined);
            const due = addedAt + c.maxWait;
            if (first.startedAt <= due) continue;
            // Every moment from the due time to the start was covered by a flush under way.
            let covered = due;
            for (const call of calls) {
              if (call === first) break;
              if (call.endedAt! <= covered) continue;
              assert.ok(call.startedAt <= covered + 1e-6, `item ${item.id}: the slot was idle at ${covered}`);
              covered = call.endedAt!;
            }
            assert.ok(covered >= first.startedAt - 1e-6, `item ${item.id}: idle from ${covered}`);
          }
        },
      ),
      runs,
    );
  });
});
