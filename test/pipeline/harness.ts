import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import pg from 'pg';
import {
  createPipelineTables,
  type Pipeline,
  type PipelineEvent,
  type PipelineOptions,
  type PipelineTables,
  startPipeline,
} from '../../examples/pipeline.ts';

/**
 * The world of one pipeline test: a queue and tables of its own on the shared RabbitMQ and PostgreSQL (or
 * on a private PostgreSQL), a publisher, a monitor sampling the pipeline, and the final checks.
 */
export interface World {
  readonly queue: string;
  readonly tables: PipelineTables;
  /** The consumers' connection; the publisher has its own, so that flow control on one spares the other. */
  readonly connection: amqplib.ChannelModel;
  readonly pool: pg.Pool;
  /** Sends the events; its confirms are awaited. */
  readonly channel: amqplib.ConfirmChannel;
  /** Ids published, and the highest seq published per key. */
  readonly published: Set<string>;
  readonly lastSeq: Map<string, number>;
  start(options?: Partial<PipelineOptions>): Promise<Pipeline>;
  /** A new AMQP connection of its own (closed with the world), e.g. to crash one consumer. */
  connect(): Promise<amqplib.ChannelModel>;
  /** Publishes `rate` events a second over `keys` keys for `ms`; resolves once all are confirmed. */
  publish(rate: number, ms: number, keys?: number): Promise<void>;
  /** Resolves once the events table holds every id published (or fails after `ms`). */
  drained(ms: number): Promise<void>;
  /** Every published event once in the events table; each key's newest event in the state table. */
  verify(options?: { readonly inOrder?: boolean }): Promise<void>;
  /** Messages left in the queue, its delay queues and its dead letters. */
  leftovers(): Promise<{ readonly queue: number; readonly dead: number }>;
  close(): Promise<void>;
}

const DELAY_BUCKETS = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 600_000];

export async function world(amqpUrl: string, databaseUrl: string): Promise<World> {
  const id = randomUUID().replace(/-/g, '').slice(0, 10);
  const queue = `sluice.pipeline.test.${id}`;
  const tables = { events: `sluice_pl_events_${id}`, state: `sluice_pl_state_${id}` };
  const audit = `sluice_pl_audit_${id}`;
  const connection = await amqplib.connect(amqpUrl);
  connection.on('error', () => {});
  const publisher = await amqplib.connect(amqpUrl);
  publisher.on('error', () => {});
  const channel = await publisher.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 6 });
  pool.on('error', () => {});
  await createPipelineTables(pool, tables);
  // Every change of a key's state, in the order it was applied: the guard must only ever move seq forward.
  await pool.query(`CREATE TABLE ${audit} (n bigserial PRIMARY KEY, key text, old_seq int, new_seq int)`);
  await pool.query(`CREATE FUNCTION ${audit}_f() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO ${audit} (key, old_seq, new_seq)
        VALUES (NEW.key, CASE WHEN TG_OP = 'UPDATE' THEN OLD.seq END, NEW.seq);
      RETURN NULL;
    END $$`);
  await pool.query(
    `CREATE TRIGGER ${audit}_t AFTER INSERT OR UPDATE ON ${tables.state} FOR EACH ROW EXECUTE FUNCTION ${audit}_f()`,
  );

  const published = new Set<string>();
  const lastSeq = new Map<string, number>();
  const perKey = new Map<string, number>();
  let n = 0;
  const pipelines: Pipeline[] = [];
  const connections: amqplib.ChannelModel[] = [];

  const w: World = {
    queue,
    tables,
    connection,
    pool,
    channel,
    published,
    lastSeq,
    async start(options = {}) {
      const pipeline = await startPipeline({ connection, pool, queue, tables, ...options });
      pipelines.push(pipeline);
      return pipeline;
    },
    async connect() {
      const c = await amqplib.connect(amqpUrl);
      c.on('error', () => {});
      connections.push(c);
      return c;
    },
    async publish(rate, ms, keys = 50) {
      const started = performance.now();
      let sent = 0;
      while (performance.now() - started < ms) {
        const due = Math.floor(((performance.now() - started) * rate) / 1000);
        for (; sent < due; sent++) {
          const key = `k${n % keys}`;
          const seq = (perKey.get(key) ?? 0) + 1;
          perKey.set(key, seq);
          const event: PipelineEvent = { id: `m${n++}`, key, seq, sentAt: Date.now(), payload: { n } };
          published.add(event.id);
          lastSeq.set(key, seq);
          channel.sendToQueue(queue, Buffer.from(JSON.stringify(event)), { messageId: event.id });
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await channel.waitForConfirms();
    },
    async drained(ms) {
      const deadline = performance.now() + ms;
      for (;;) {
        const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${tables.events}`);
        if (rows[0].n >= published.size) return;
        if (performance.now() > deadline) {
          assert.fail(`${rows[0].n} of ${published.size} events written after ${ms} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async verify(options = {}) {
      const events = await pool.query(`SELECT id FROM ${tables.events}`);
      const ids = new Set(events.rows.map((r: { id: string }) => r.id));
      assert.equal(events.rows.length, ids.size, 'no event twice');
      const missing = [...published].filter((i) => !ids.has(i));
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} events lost`);
      assert.equal(ids.size, published.size, 'nothing but the published events');

      const state = await pool.query(`SELECT key, seq FROM ${tables.state}`);
      const latest = new Map(state.rows.map((r: { key: string; seq: number }) => [r.key, r.seq]));
      assert.deepEqual(latest, lastSeq, "each key's state is its newest event");
      const regressions = await pool.query(
        `SELECT count(*)::int AS n FROM ${audit} WHERE old_seq IS NOT NULL AND new_seq <= old_seq`,
      );
      assert.equal(regressions.rows[0].n, 0, 'no older event ever overwrote a newer one');

      if (options.inOrder === true) {
        // Rows of one statement get increasing clock_timestamp() defaults in VALUES order.
        const reversed = await pool.query(
          `SELECT count(*)::int AS n FROM (
             SELECT seq, lag(seq) OVER (PARTITION BY key ORDER BY written_at, seq) AS prev FROM ${tables.events}
           ) x WHERE prev > seq`,
        );
        assert.equal(reversed.rows[0].n, 0, "each key's events were written in the order they were sent");
      }
    },
    async leftovers() {
      // A check of a missing queue closes its channel: one throwaway channel per check.
      const count = async (name: string): Promise<number> => {
        const check = await connection.createChannel();
        check.on('error', () => {});
        try {
          return (await check.checkQueue(name)).messageCount;
        } catch {
          return 0; // never declared: nothing went there
        } finally {
          await check.close().catch(() => {});
        }
      };
      return { queue: await count(queue), dead: await count(`${queue}.dead`) };
    },
    async close() {
      for (const p of pipelines) await p.stop({ timeout: 1000 }).catch(() => {});
      const admin = await connection.createChannel();
      admin.on('error', () => {});
      for (const q of [queue, `${queue}.dead`, ...DELAY_BUCKETS.map((b) => `${queue}.delay.${b}`)]) {
        await admin.deleteQueue(q).catch(() => {});
      }
      await admin.close().catch(() => {});
      for (const c of [...connections, connection, publisher]) await c.close().catch(() => {});
      await pool.query(`DROP TABLE IF EXISTS ${tables.events}, ${tables.state}, ${audit}`).catch(() => {});
      await pool.query(`DROP FUNCTION IF EXISTS ${audit}_f()`).catch(() => {});
      await pool.end();
    },
  };
  return w;
}

/** One sample of the pipeline's state. */
export interface Sample {
  readonly t: number;
  readonly received: number;
  readonly acked: number;
  readonly held: number;
  readonly window: number;
  readonly limit: number;
  readonly batcherHeld: number;
  readonly batchSize: number;
  readonly flushes: number;
  readonly flushedItems: number;
  /** Messages published so far. */
  readonly published: number;
}

/**
 * Samples the pipeline every `every` ms until stopped; `t` is ms since the monitor started. Rates are
 * compared with what the publisher (in this process, on a shared machine) actually sent.
 */
export function monitor(pipeline: Pipeline, published: () => number, every = 100) {
  const samples: Sample[] = [];
  const started = performance.now();
  let flushes = 0;
  let flushedItems = 0;
  const off = pipeline.batcher.on('flush', (e) => {
    if (e.outcome !== 'success') return;
    flushes++;
    flushedItems += e.items;
  });
  const take = (): void => {
    const c = pipeline.consumer.snapshot();
    const b = pipeline.batcher.snapshot();
    samples.push({
      t: performance.now() - started,
      received: c.received,
      acked: c.acked,
      held: c.held,
      window: c.window,
      limit: c.limit,
      batcherHeld: b.buffered + b.inflight,
      batchSize: b.size,
      flushes,
      flushedItems,
      published: published(),
    });
  };
  take();
  const timer = setInterval(take, every);
  return {
    samples,
    /** ms since the monitor started. */
    now: () => performance.now() - started,
    stop() {
      clearInterval(timer);
      off();
      take();
    },
    /** Rates per second over [from, to] ms: received, acked, and mean items per flush. */
    between(from: number, to: number) {
      const a = samples.find((s) => s.t >= from) ?? samples.at(-1)!;
      const b = [...samples].reverse().find((s) => s.t <= to) ?? samples.at(-1)!;
      const seconds = Math.max(1e-3, (b.t - a.t) / 1000);
      return {
        published: (b.published - a.published) / seconds,
        received: (b.received - a.received) / seconds,
        acked: (b.acked - a.acked) / seconds,
        itemsPerFlush:
          b.flushes > a.flushes ? (b.flushedItems - a.flushedItems) / (b.flushes - a.flushes) : 0,
        maxHeld: Math.max(...samples.filter((s) => s.t >= a.t && s.t <= b.t).map((s) => s.held)),
        minLimit: Math.min(...samples.filter((s) => s.t >= a.t && s.t <= b.t).map((s) => s.limit)),
      };
    },
  };
}

/**
 * Memory stayed bounded: the consumer never held more messages than the largest window it had had, and
 * the batcher never more rows than its capacity.
 */
export function assertBounded(samples: readonly Sample[], batcherCapacity: number): void {
  let window = 0;
  for (const s of samples) {
    window = Math.max(window, s.window);
    assert.ok(s.held <= window, `held ${s.held} > window ${window} at ${Math.round(s.t)} ms`);
    assert.ok(s.batcherHeld <= batcherCapacity, `batcher held ${s.batcherHeld} > ${batcherCapacity}`);
  }
}

/**
 * The windows the chaos tests judge around a fault from `from` to `to` (ms on the monitor's clock): before it
 * (after half a second of start-up), during it (after its first second), and the two seconds after the half
 * second that follows it.
 */
export function phasesAround(from: number, to: number) {
  return {
    before: [500, from],
    during: [from + 1000, to],
    after: [to + 500, to + 2500],
  } as const;
}

/** A line per phase, for the test's diagnostics. */
export function describePhases(
  m: ReturnType<typeof monitor>,
  phases: Readonly<Record<string, readonly [number, number]>>,
): string {
  return Object.entries(phases)
    .map(([name, [from, to]]) => {
      const r = m.between(from, to);
      return `${name}: published ${Math.round(r.published)}/s, received ${Math.round(r.received)}/s, acked ${Math.round(r.acked)}/s, ${r.itemsPerFlush.toFixed(
        0,
      )} items/flush, held <= ${r.maxHeld}, limit >= ${r.minLimit}`;
    })
    .join('; ');
}
