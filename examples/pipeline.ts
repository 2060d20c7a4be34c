/**
 * The reference ingestion pipeline: RabbitMQ -> adaptive consumer -> adaptive batcher -> PostgreSQL.
 *
 *   sh scripts/use-node.sh node examples/pipeline.ts [messages]
 *
 * (RabbitMQ from AMQP_URL, default amqp://guest:guest@127.0.0.1:5672; PostgreSQL from DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test.) It publishes `messages` events (default 20000), consumes them,
 * prints a line a second, and checks the tables at the end. test/pipeline/ runs the same pipeline against
 * stalls, latency, a stopped database and a restarted consumer.
 *
 * Each message is an event of a key (an account, a device) with a sequence number per key. The pipeline
 * - writes every event once to the events table: an upsert by message id (`ON CONFLICT (id) DO NOTHING`), so
 *   a redelivered message changes nothing;
 * - keeps the latest state of each key in the state table: an upsert by key guarded by the sequence
 *   (`WHERE state.seq < EXCLUDED.seq`), so an older message, redelivered or late, never overwrites a newer
 *   one; and, in the batcher, writes a key's events in the order they came, through batching and retries;
 * - acknowledges a message only once the batch that holds it is committed to both tables.
 *
 * The sink steers intake. The batcher sizes its batches and its flush interval by the write latency; while
 * the database is slow it holds more messages per statement, and while it fails or stalls it pauses and
 * fills up, so that its `add()` waits. The consumer's handlers then wait too, the prefetch stays full and
 * RabbitMQ stops delivering; the failures (statement timeouts, lost connections) are drops for the
 * consumer's limit, which backs off and hands back the excess. Memory stays bounded throughout: at most the
 * consumer's window of messages, and the batcher's capacity of rows.
 */

import amqplib from 'amqplib';
import pg from 'pg';
import { type Batcher, type BatcherOptions, createBatcher, type FlushResult } from '../src/batch/index.ts';
import type { Consumer } from '../src/consumer/index.ts';
import { aimd } from '../src/limits/index.ts';
import { classifyPostgresError, createPostgresSink, type PostgresSink } from '../src/postgres/index.ts';
import {
  type AmqpConnection,
  type RabbitmqConsumerOptions,
  rabbitmqConsumer,
} from '../src/rabbitmq/index.ts';

/** One message: an event of `key`, the `seq`-th of that key. */
export interface PipelineEvent {
  readonly id: string;
  readonly key: string;
  readonly seq: number;
  /** When it was published (ms since the epoch), for end-to-end latency. */
  readonly sentAt: number;
  readonly payload: unknown;
}

export interface PipelineTables {
  /** Every event once, by id. Default `"pipeline_events"`. */
  readonly events: string;
  /** The latest event of each key. Default `"pipeline_state"`. */
  readonly state: string;
}

export const defaultTables: PipelineTables = { events: 'pipeline_events', state: 'pipeline_state' };

/** Creates the two tables if they do not exist. */
export async function createPipelineTables(
  pool: pg.Pool,
  tables: PipelineTables = defaultTables,
): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${tables.events} (
    id text PRIMARY KEY,
    key text NOT NULL,
    seq integer NOT NULL,
    sent_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
  )`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${tables.state} (
    key text PRIMARY KEY,
    seq integer NOT NULL,
    id text NOT NULL,
    payload jsonb NOT NULL
  )`);
}

export interface PipelineOptions {
  /** An amqplib connection. */
  readonly connection: AmqpConnection;
  /** A pg pool; give it an `'error'` listener. */
  readonly pool: pg.Pool;
  /** The queue to consume (it must exist). */
  readonly queue: string;
  readonly tables?: PipelineTables;
  /** Write a key's events in order (the batcher's `key`). Default true. */
  readonly ordered?: boolean;
  /** `statement_timeout` of each batch (ms). Default 2000. */
  readonly statementTimeout?: number;
  /** Overrides for the batcher. */
  readonly batcher?: Partial<BatcherOptions<PipelineEvent>>;
  /** Overrides for the consumer. */
  readonly consumer?: Partial<RabbitmqConsumerOptions>;
}

export interface Pipeline {
  readonly consumer: Consumer;
  readonly batcher: Batcher<PipelineEvent>;
  readonly events: PostgresSink<PipelineEvent>;
  readonly state: PostgresSink<PipelineEvent>;
  /** Stops the consumer (waiting for what is in flight), then the batcher. */
  stop(options?: { readonly timeout?: number }): Promise<void>;
}

/** A message body that is not an event: poison, never retried into success. */
export class BadEventError extends Error {
  override readonly name = 'BadEventError';
  readonly retryable = false;
}

export function parseEvent(body: Buffer): PipelineEvent {
  let value: Partial<PipelineEvent>;
  try {
    value = JSON.parse(body.toString('utf8')) as Partial<PipelineEvent>;
  } catch (error) {
    throw new BadEventError(`not JSON: ${(error as Error).message}`);
  }
  if (
    typeof value?.id !== 'string' ||
    typeof value.key !== 'string' ||
    !Number.isInteger(value.seq) ||
    typeof value.sentAt !== 'number'
  ) {
    throw new BadEventError('an event needs id, key, an integer seq and sentAt');
  }
  return value as PipelineEvent;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const tables = options.tables ?? defaultTables;
  const statementTimeout = options.statementTimeout ?? 2000;
  const events = createPostgresSink<PipelineEvent>({
    pool: options.pool,
    table: tables.events,
    columns: ['id', 'key', 'seq', 'sent_at', 'payload'],
    values: (e) => [e.id, e.key, e.seq, new Date(e.sentAt), JSON.stringify(e.payload ?? null)],
    conflict: 'id',
    statementTimeout,
  });
  const state = createPostgresSink<PipelineEvent>({
    pool: options.pool,
    table: tables.state,
    columns: ['key', 'seq', 'id', 'payload'],
    values: (e) => [e.key, e.seq, e.id, JSON.stringify(e.payload ?? null)],
    conflict: 'key',
    version: 'seq',
    statementTimeout,
  });

  // One batch, two idempotent statements: if the second fails, the retry finds the first already done.
  const flush = async (batch: readonly PipelineEvent[]): Promise<FlushResult> => {
    const appended = await events.write(batch);
    const kept = batch.flatMap((_, i) => (appended.failed.has(i) ? [] : [i]));
    const latest = await state.write(kept.map((i) => batch[i]!));
    const failed = new Map<number, unknown>(appended.failed);
    for (const [j, error] of latest.failed) failed.set(kept[j]!, error);
    return { failed };
  };

  const batcher = createBatcher<PipelineEvent>({
    name: 'pipeline',
    flush,
    maxSize: 1000,
    maxWait: 100,
    ...(options.ordered === false ? {} : { key: (e: PipelineEvent) => e.key }),
    // A batch still failing after three tries (a stall, an outage) fails its messages: the consumer counts
    // drops and hands them back for later, so a stall does not hold them all hostage.
    retry: { attempts: 3 },
    ...options.batcher,
  });

  const consumer = rabbitmqConsumer({
    connection: options.connection,
    queue: options.queue,
    handler: (message) => batcher.add(parseEvent(message.body)),
    // Loss-based: statement timeouts and lost connections halve the limit; a slower but working database
    // does not cut it, since the batcher answers that with larger batches, which need messages in flight
    // (a latency-based limit would starve them). It starts high enough to fill a batch while one is written.
    limit: aimd({ initial: 1000, min: 10, max: 4000, increase: 200, backoff: 0.5 }),
    classify: classifyPostgresError,
    maxDeliveries: 10,
    delayQueues: true,
    ...options.consumer,
  });
  await consumer.start();

  return {
    consumer,
    batcher,
    events,
    state,
    async stop(stopOptions) {
      await consumer.stop(stopOptions?.timeout === undefined ? {} : { timeout: stopOptions.timeout });
      await batcher.close();
    },
  };
}

/** Publishes `count` events over `keys` keys, numbered per key in publishing order. */
export async function publishEvents(
  channel: amqplib.ConfirmChannel,
  queue: string,
  count: number,
  options: { readonly keys?: number; readonly from?: number; readonly prefix?: string } = {},
): Promise<void> {
  const keys = options.keys ?? 50;
  const from = options.from ?? 0;
  const prefix = options.prefix ?? 'e';
  for (let i = from; i < from + count; i++) {
    const event: PipelineEvent = {
      id: `${prefix}${i}`,
      key: `k${i % keys}`,
      seq: Math.floor(i / keys) + 1,
      sentAt: Date.now(),
      payload: { n: i },
    };
    channel.sendToQueue(queue, Buffer.from(JSON.stringify(event)), {
      messageId: event.id,
      persistent: false,
    });
    if ((i - from) % 1000 === 999) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 20_000);
  const queue = 'sluice.pipeline.example';
  const connection = await amqplib.connect(process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672');
  const pool = new pg.Pool({
    connectionString: process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test',
    max: 4,
  });
  pool.on('error', (error) => console.error('pool:', error.message));

  await createPipelineTables(pool);
  await pool.query(`TRUNCATE ${defaultTables.events}, ${defaultTables.state}`);
  const admin = await connection.createConfirmChannel();
  await admin.assertQueue(queue, { durable: true });
  await admin.purgeQueue(queue);

  const pipeline = await startPipeline({ connection, pool, queue });
  const started = performance.now();
  const publishing = publishEvents(admin, queue, count);
  let last = pipeline.consumer.snapshot();
  const timer = setInterval(() => {
    const c = pipeline.consumer.snapshot();
    const b = pipeline.batcher.snapshot();
    console.log(
      `${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s  acked ${String(c.acked).padStart(7)}` +
        `  +${c.acked - last.acked}/s  limit ${c.limit}  held ${c.held}  batch ${b.size}` +
        `  write ${b.latencyMs.toFixed(1)} ms  buffered ${b.buffered}`,
    );
    last = c;
  }, 1000);
  await publishing;
  while (pipeline.consumer.snapshot().acked < count) await new Promise((r) => setTimeout(r, 100));
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  await pipeline.stop();

  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${defaultTables.events}`);
  console.log(
    `${count} messages in ${seconds.toFixed(1)} s (${Math.round(count / seconds)}/s); ${rows[0].n} rows`,
  );
  await admin.close();
  await connection.close();
  await pool.end();
}

if (import.meta.main) await main();
