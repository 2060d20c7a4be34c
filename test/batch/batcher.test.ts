import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { createBatcher } from '../../src/batch/batcher.ts';
import { isBatcherClosedError } from '../../src/batch/errors.ts';
import type { BatcherEvents, BatcherOptions, SizeChange } from '../../src/batch/types.ts';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { gaugeCollector } from '../../src/scale/collectors/gauge.ts';
import { FakeSink, type FakeSinkOptions, track } from './helpers.ts';

interface Item {
  readonly id: number;
  readonly k?: string;
}

function setup(options: Partial<BatcherOptions<Item>> = {}, sinkOptions: FakeSinkOptions<Item> = {}) {
  const clock = new VirtualClock();
  const sink = new FakeSink<Item>(clock, sinkOptions);
  const batcher = createBatcher<Item>({ clock, flush: sink.flush, ...options });
  return { clock, sink, batcher };
}

const items = (from: number, count: number, k?: string): Item[] =>
  Array.from({ length: count }, (_, i) => (k === undefined ? { id: from + i } : { id: from + i, k }));
const ids = (list: readonly Item[]): number[] => list.map((i) => i.id);

describe('createBatcher options', () => {
  const bad: [Partial<BatcherOptions<Item>>, string][] = [
    [{ maxSize: 0 }, 'maxSize'],
    [{ maxSize: 1.5 }, 'maxSize'],
    [{ minSize: 20, maxSize: 10 }, 'minSize'],
    [{ initialSize: 2000 }, 'initialSize'],
    [{ maxWait: -1 }, 'maxWait'],
    [{ linger: Number.NaN }, 'linger'],
    [{ targetLatency: 0 }, 'targetLatency'],
    [{ tolerance: 0.5 }, 'tolerance'],
    [{ backoff: 1 }, 'backoff'],
    [{ increase: 0 }, 'increase'],
    [{ window: 0 }, 'window'],
    [{ concurrency: 0 }, 'concurrency'],
    [{ capacity: 0 }, 'capacity'],
    [{ overflow: 'drop' as 'wait' }, 'overflow'],
    [{ maxWaiting: -1 }, 'maxWaiting'],
    [{ key: 'id' as unknown as () => string }, 'key'],
    [{ retry: { attempts: 0 } }, 'retry.attempts'],
    [{ retry: { backoff: {} as never } }, 'retry.backoff'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => createBatcher<Item>({ clock: new VirtualClock(), flush: async () => {}, ...options }),
        (error) => isConfigError(error) && error.option === option && error.message.includes(option),
      );
    });
  }

  it('needs a flush function', () => {
    assert.throws(
      () => createBatcher({} as BatcherOptions<Item>),
      (error) => isConfigError(error) && error.option === 'flush',
    );
  });
});

describe('forming batches', () => {
  it('sends the first item at once and batches those that arrive while a flush is under way', async () => {
    const { clock, sink, batcher } = setup({ initialSize: 4, maxSize: 4 });
    const added = items(0, 5).map((item) => track(batcher.add(item)));
    await flushMicrotasks();
    assert.deepEqual(
      sink.calls.map((c) => ids(c.items)),
      [[0]],
    );
    await clock.advanceAsync(10);
    assert.deepEqual(
      sink.calls.map((c) => ids(c.items)),
      [[0], [1, 2, 3, 4]],
    );
    assert.equal(sink.calls[1]!.startedAt, 10);
    assert.equal(added[0]!.state, 'fulfilled');
    assert.equal(added[1]!.state, 'pending', 'resolved only once its own batch commits');
    await clock.advanceAsync(10);
    assert.ok(added.every((a) => a.state === 'fulfilled'));
  });

  it('never puts more than the target size in a batch', async () => {
    const { clock, sink, batcher } = setup({ initialSize: 3, maxSize: 3 });
    for (const item of items(0, 10)) void batcher.add(item);
    await clock.advanceAsync(100);
    assert.deepEqual(
      sink.calls.map((c) => c.items.length),
      [1, 3, 3, 3],
    );
  });

  it('lets a partial batch linger a fraction of the smoothed flush latency while the sink is free', async () => {
    const { clock, sink, batcher } = setup({ initialSize: 8, linger: 0.5 }, { latency: () => 20 });
    void batcher.add({ id: 0 });
    await clock.advanceAsync(20);
    assert.equal(batcher.snapshot().interval, 10);
    void batcher.add({ id: 1 });
    await clock.advanceAsync(9);
    assert.equal(sink.calls.length, 1);
    await clock.advanceAsync(1);
    assert.equal(sink.calls.length, 2);
    assert.equal(sink.calls[1]!.startedAt, 30);
  });

  it('caps the interval at maxWait, however slow the sink', async () => {
    const { clock, sink, batcher } = setup({ maxWait: 50, targetLatency: 10_000 }, { latency: () => 1000 });
    void batcher.add({ id: 0 });
    await clock.advanceAsync(1000);
    assert.equal(batcher.snapshot().interval, 50);
    void batcher.add({ id: 1 });
    await clock.advanceAsync(50);
    assert.equal(sink.calls[1]?.startedAt, 1050);
  });

  it('keeps at most `concurrency` flushes under way', async () => {
    const { clock, sink, batcher } = setup({ concurrency: 2, initialSize: 2, maxSize: 2, linger: 0 });
    for (const item of items(0, 12)) void batcher.add(item);
    await clock.advanceAsync(200);
    assert.equal(sink.maxInflight, 2);
    assert.equal(sink.committed.length, 12);
  });

  it('starts every buffered item at once on flush(), and resolves when they are committed', async () => {
    const { clock, sink, batcher } = setup({ initialSize: 100, maxWait: 1000, linger: 10 });
    void batcher.add({ id: 0 });
    await clock.advanceAsync(10);
    for (const item of items(1, 3)) void batcher.add(item);
    await flushMicrotasks();
    assert.equal(sink.calls.length, 1, 'lingering for more');
    const flushed = track(batcher.flush());
    await flushMicrotasks();
    assert.deepEqual(ids(sink.calls[1]!.items), [1, 2, 3]);
    assert.equal(flushed.state, 'pending');
    await clock.advanceAsync(10);
    assert.equal(flushed.state, 'fulfilled');
  });
});

describe('outcomes', () => {
  it('retries a failed batch after a pause in which nothing is flushed', async () => {
    const boom = new Error('connection lost');
    const { clock, sink, batcher } = setup(
      { retry: { backoff: constantBackoff({ delay: 100 }) } },
      { fail: (_items, call) => (call === 0 ? boom : undefined) },
    );
    const first = track(batcher.add({ id: 0 }));
    await clock.advanceAsync(10);
    assert.equal(sink.calls[0]!.outcome, 'failure');
    void batcher.add({ id: 1 });
    await clock.advanceAsync(99);
    assert.equal(sink.calls.length, 1, 'paused');
    assert.ok(batcher.snapshot().pausedMs > 0);
    await clock.advanceAsync(1);
    assert.deepEqual(ids(sink.calls[1]!.items), [0, 1]);
    assert.equal(sink.calls[1]!.context.retries, 1);
    await clock.advanceAsync(10);
    assert.equal(first.state, 'fulfilled');
  });

  it('rejects the items with the error once their attempts are spent', async () => {
    const boom = new Error('down');
    const { clock, sink, batcher } = setup({ retry: { attempts: 3 } }, { fail: () => boom });
    const added = track(batcher.add({ id: 0 }));
    await clock.advanceAsync(10_000);
    assert.equal(sink.calls.length, 3);
    assert.equal(added.state, 'rejected');
    assert.equal(added.error, boom);
    assert.equal(batcher.snapshot().rejected, 1);
  });

  it('rejects at once, without a pause, on an error that is not retryable', async () => {
    const fatal = Object.assign(new Error('no such table'), { retryable: false });
    const { clock, sink, batcher } = setup({}, { fail: (_items, call) => (call === 0 ? fatal : undefined) });
    const added = track(batcher.add({ id: 0 }));
    await clock.advanceAsync(10);
    assert.equal(added.error, fatal);
    void batcher.add({ id: 1 });
    await flushMicrotasks();
    assert.equal(sink.calls.length, 2);
    assert.equal(sink.calls[1]!.startedAt, 10);
  });

  it('rejects only the items a flush reports as failed, and commits the rest', async () => {
    const poison = new Error('violates check constraint');
    const { clock, batcher } = setup(
      { initialSize: 3 },
      { poison: (list) => new Map(list.flatMap((item, i) => (item.id === 2 ? [[i, poison]] : []))) },
    );
    const added = items(0, 4).map((item) => track(batcher.add(item)));
    await clock.advanceAsync(50);
    assert.deepEqual(
      added.map((a) => a.state),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(added[2]!.error, poison);
    assert.equal(batcher.snapshot().committed, 3);
  });
});

describe('per-key order', () => {
  it('holds a key back while a batch with that key is under way, and lets other keys pass', async () => {
    const { clock, sink, batcher } = setup({ concurrency: 2, key: (item) => item.k });
    void batcher.add({ id: 1, k: 'a' });
    void batcher.add({ id: 2, k: 'a' });
    void batcher.add({ id: 3, k: 'b' });
    await clock.advanceAsync(100);
    assert.deepEqual(
      sink.calls.map((c) => ids(c.items)),
      [[1], [3], [2]],
    );
    assert.ok(sink.calls[2]!.startedAt >= sink.calls[0]!.endedAt!);
  });

  it('blocks later items of a key behind its failed batch until the retry commits', async () => {
    const { clock, sink, batcher } = setup(
      { concurrency: 2, key: (item) => item.k, retry: { backoff: constantBackoff({ delay: 50 }) } },
      { fail: (_items, call) => (call === 0 ? new Error('timeout') : undefined) },
    );
    void batcher.add({ id: 1, k: 'a' });
    await flushMicrotasks();
    void batcher.add({ id: 2, k: 'a' });
    void batcher.add({ id: 3, k: 'b' });
    await clock.advanceAsync(500);
    const a = sink.committed.filter((i) => i.k === 'a');
    assert.deepEqual(ids(a), [1, 2]);
    const retry = sink.calls.findIndex((c, i) => i > 0 && c.items.some((item) => item.id === 1));
    const second = sink.calls.findIndex((c) => c.items.some((item) => item.id === 2));
    assert.ok(retry <= second, 'the retry of item 1 goes no later than item 2');
  });
});

describe('backpressure', () => {
  it('makes add() wait for room beyond the capacity, and admits waiters in order', async () => {
    const { clock, sink, batcher } = setup({ capacity: 3, initialSize: 2, maxSize: 2 });
    const added = items(0, 6).map((item) => track(batcher.add(item)));
    await flushMicrotasks();
    assert.equal(batcher.held, 3);
    assert.equal(batcher.full, true);
    assert.equal(batcher.snapshot().waiting, 3);
    await clock.advanceAsync(100);
    assert.deepEqual(ids(sink.committed), [0, 1, 2, 3, 4, 5]);
    assert.ok(added.every((a) => a.state === 'fulfilled'));
    assert.ok(sink.calls.every((c) => c.items.length <= 2));
  });

  it('rejects beyond the capacity with overflow "reject", and beyond maxWaiting otherwise', async () => {
    const reject = setup({ capacity: 2, overflow: 'reject' }).batcher;
    void reject.add({ id: 0 });
    void reject.add({ id: 1 });
    await assert.rejects(reject.add({ id: 2 }), (e) => isRejectedError(e) && e.reason === 'queue-full');

    const wait = setup({ capacity: 1, maxWaiting: 1 }).batcher;
    void wait.add({ id: 0 });
    void wait.add({ id: 1 });
    await assert.rejects(wait.add({ id: 2 }), (e) => isRejectedError(e) && e.reason === 'queue-full');
  });

  it('withdraws an item whose signal aborts before its batch starts', async () => {
    const { clock, sink, batcher } = setup({ initialSize: 10 });
    void batcher.add({ id: 0 });
    const controller = new AbortController();
    const withdrawn = track(batcher.add({ id: 1 }, { signal: controller.signal }));
    void batcher.add({ id: 2 });
    controller.abort();
    await clock.advanceAsync(100);
    assert.equal(withdrawn.state, 'rejected');
    assert.ok(isRejectedError(withdrawn.error) && withdrawn.error.reason === 'aborted');
    assert.deepEqual(ids(sink.committed), [0, 2]);
  });
});

describe('adapting the size', () => {
  it('doubles the size while full batches cost no more per item (slow start), up to maxSize', async () => {
    const { clock, sink, batcher } = setup(
      { initialSize: 4, maxSize: 64 },
      { latency: (list) => 5 + 0.05 * list.length },
    );
    for (const item of items(0, 400)) void batcher.add(item);
    await clock.advanceAsync(1000);
    assert.deepEqual(
      sink.calls.slice(0, 7).map((c) => c.items.length),
      [1, 4, 8, 16, 32, 64, 64],
    );
  });

  it('cuts the size in proportion when a flush is slower than the target latency', async () => {
    const changes: SizeChange[] = [];
    const { clock, sink, batcher } = setup(
      { initialSize: 64, maxSize: 64, targetLatency: 20 },
      { latency: (list) => 0.5 * list.length },
    );
    batcher.on('size', (c) => changes.push(c));
    for (const item of items(0, 400)) void batcher.add(item);
    await clock.advanceAsync(1000);
    const cut = changes.find((c) => c.rule === 'latency');
    assert.ok(cut !== undefined);
    assert.equal(cut.previous, 64);
    assert.equal(cut.size, 40); // 64 * 20 / 32
    // Then a sawtooth about the target: additive increase past it, a cut back below.
    const after = sink.calls.filter((c) => c.startedAt > cut.at).map((c) => c.items.length);
    assert.ok(after.length > 5);
    assert.ok(Math.max(...after) <= 44, `sizes after the cut: ${after}`);
  });

  it('halves the size on a failed flush', async () => {
    const changes: SizeChange[] = [];
    const { clock, batcher } = setup(
      { initialSize: 32, maxSize: 64 },
      { fail: (_items, call) => (call === 1 ? new Error('reset') : undefined) },
    );
    batcher.on('size', (c) => changes.push(c));
    for (const item of items(0, 100)) void batcher.add(item);
    await clock.advanceAsync(10_000);
    assert.deepEqual([changes[0]?.rule, changes[0]?.previous, changes[0]?.size], ['failure', 32, 16]);
  });

  it('follows setSize() and explains it', () => {
    const { batcher } = setup({ maxSize: 100 });
    const changes: SizeChange[] = [];
    batcher.on('size', (c) => changes.push(c));
    batcher.setSize(500);
    assert.equal(batcher.size, 100);
    assert.equal(changes[0]?.rule, 'manual');
    assert.throws(() => batcher.setSize(Number.NaN), RangeError);
  });
});

describe('closing', () => {
  it('flushes what it holds, rejects waiters and later adds, and resolves once all settled', async () => {
    const { clock, sink, batcher } = setup({ capacity: 2, maxWait: 1000, linger: 100 });
    const held = items(0, 2).map((item) => track(batcher.add(item)));
    const waiter = track(batcher.add({ id: 9 }));
    const closed = track(batcher.close());
    await flushMicrotasks();
    assert.ok(isBatcherClosedError(waiter.error));
    await assert.rejects(batcher.add({ id: 10 }), isBatcherClosedError);
    await clock.advanceAsync(100);
    assert.equal(closed.state, 'fulfilled');
    assert.ok(held.every((h) => h.state === 'fulfilled'));
    assert.deepEqual(ids(sink.committed), [0, 1]);
    assert.equal(batcher.close(), batcher.close());
  });
});

describe('events and snapshot', () => {
  it('reports every flush with its trigger and outcome, also on diagnostics_channel', async () => {
    const { clock, batcher } = setup(
      {},
      { fail: (_items, call) => (call === 1 ? new Error('x') : undefined) },
    );
    const seen: BatcherEvents['flush'][] = [];
    const published: unknown[] = [];
    const onMessage = (m: unknown): void => void published.push(m);
    subscribe('sluice:batcher:flush', onMessage);
    try {
      batcher.on('flush', (e) => seen.push(e));
      void batcher.add({ id: 0 });
      await clock.advanceAsync(10);
      void batcher.add({ id: 1 });
      await clock.advanceAsync(1000);
    } finally {
      unsubscribe('sluice:batcher:flush', onMessage);
    }
    assert.deepEqual(
      seen.map((e) => [e.outcome, e.items, e.retrying]),
      [
        ['success', 1, 0],
        ['failure', 1, 1],
        ['success', 1, 0],
      ],
    );
    assert.equal(seen[0]!.trigger, 'interval');
    assert.equal(published.length, 3);
  });

  it('rejects an item whose key cannot be read, and goes on', async () => {
    const { clock, sink, batcher } = setup({
      key: (item) => {
        if (item.id === 1) throw new Error('no key');
        return item.k;
      },
    });
    await assert.rejects(batcher.add({ id: 1 }), /no key/);
    const ok = track(batcher.add({ id: 2 }));
    await clock.advanceAsync(10);
    assert.equal(ok.state, 'fulfilled');
    assert.deepEqual(ids(sink.committed), [2]);
  });

  it('reports a refusal as a reject event', async () => {
    const { batcher } = setup({ capacity: 1, overflow: 'reject' });
    const rejects: unknown[] = [];
    batcher.on('reject', (e) => rejects.push(e.error));
    void batcher.add({ id: 0 });
    await batcher.add({ id: 1 }).catch(() => {});
    assert.equal(rejects.length, 1);
  });

  it('has a numeric snapshot that a gauge collector reads as it is', async () => {
    const { clock, batcher } = setup();
    void batcher.add({ id: 0 });
    void batcher.add({ id: 1 });
    await clock.advanceAsync(5);
    const snapshot = batcher.snapshot();
    for (const [key, value] of Object.entries(snapshot)) assert.equal(typeof value, 'number', key);
    assert.equal(snapshot.inflight, 1);
    assert.equal(snapshot.buffered, 1);
    assert.equal(snapshot.oldestWaitMs, 5);
    const readings = await gaugeCollector('batcher', () => batcher.snapshot()).collect(
      new AbortController().signal,
    );
    assert.equal(readings['buffered'], 1);
    assert.equal(readings['latencyMs'], undefined, 'NaN before the first flush is left out');
  });
});
