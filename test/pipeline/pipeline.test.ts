import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { services } from '../helpers/services.ts';
import { assertBounded, describePhases, monitor, type World, world } from './harness.ts';

const rabbit = await services.rabbitmq();
const postgres = await services.postgres();
const skip = rabbit.skip || postgres.skip;

describe('the ingestion pipeline (RabbitMQ -> consumer -> batcher -> PostgreSQL)', {
  skip,
  timeout: 60_000,
}, () => {
  let w: World;
  before(async () => {
    w = await world(rabbit.url, postgres.url);
  });
  after(async () => {
    await w?.close();
  });

  it('writes every message once, keeps each key newest, in order, and acknowledges only what is committed', async () => {
    const pipeline = await w.start();
    const m = monitor(pipeline, () => w.published.size);
    await w.publish(3000, 2000);
    await w.drained(20_000);
    m.stop();
    // Rows are visible once a batch commits; its messages are acknowledged just after, so wait for those.
    const c = await settled(pipeline.consumer, w.published.size, 10_000);
    assert.equal(c.acked, w.published.size, 'every message acknowledged, once');
    assert.equal(c.deadLettered, 0);
    await w.verify({ inOrder: true });
    assertBounded(m.samples, 2000);
    const r = m.between(0, m.now());
    assert.ok(r.itemsPerFlush > 1, `batched: ${r.itemsPerFlush} items per flush`);
    await pipeline.stop();
    assert.deepEqual(await w.leftovers(), { queue: 0, dead: 0 });
  });

  it('loses and duplicates nothing when a consumer dies mid-stream and another takes over', async () => {
    const doomed = await w.connect();
    const first = await w.start({ connection: doomed });
    const publishing = w.publish(1500, 4000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // A crash: the connection goes with every unacknowledged message on it, which RabbitMQ requeues; the
    // batcher may still commit some of them, which the redelivery then finds written.
    await doomed.close();
    // Acknowledgements end with the connection: what the first consumer had received and not acknowledged
    // by then is what RabbitMQ redelivers.
    const before = first.consumer.snapshot();
    const unacked = before.received - before.acked;
    await first.stop({ timeout: 0 });
    const second = await w.start();
    const m = monitor(second, () => w.published.size);
    await publishing;
    await w.drained(20_000);
    m.stop();
    await w.verify();
    assertBounded(m.samples, 2000);
    const s = second.consumer.snapshot();
    assert.ok(before.acked > 0 && s.acked > 0, 'both consumers did part of the work');
    if (unacked > 0)
      assert.ok(s.redelivered > 0, `the second consumer took over the ${unacked} left unacknowledged`);
    console.log(
      `restart: first acked ${before.acked} and left ${unacked} unacknowledged; second acked ${s.acked}, redelivered ${s.redelivered}; ${describePhases(m, { after: [0, m.now()] })}`,
    );
  });
});

/** The consumer's snapshot once it has acknowledged `count` messages, or when `ms` have passed. */
async function settled<S extends { readonly acked: number }>(
  consumer: { snapshot(): S },
  count: number,
  ms: number,
): Promise<S> {
  const deadline = performance.now() + ms;
  for (;;) {
    const s = consumer.snapshot();
    if (s.acked >= count || performance.now() > deadline) return s;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
