/**
 * The pipeline benchmark: RabbitMQ -> consumer -> PostgreSQL, under an open-loop stream of messages, before
 * and during a sink slowdown. Which consumer keeps committing what arrives, with messages committed soon
 * after they were sent?
 *
 * On the local services (RabbitMQ from AMQP_URL, default amqp://guest:guest@127.0.0.1:5672; PostgreSQL from
 * DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test), one consumer at a time, each on a queue
 * and a table of its own:
 * - `prefetch 100, insert each`: amqplib with a fixed prefetch of 100; each message is one
 *   `INSERT ... ON CONFLICT (id) DO NOTHING` on a pool of 10 connections, acknowledged after it.
 * - `prefetch 500, batches of 100`: amqplib with a fixed prefetch of 500; messages are written 100 at a
 *   time (or after 50 ms), one multi-row insert at a time, each acknowledged after its batch.
 * - `sluice`: the reference pipeline's parts (examples/pipeline.ts) on the same table: `rabbitmqConsumer`
 *   (loss-based adaptive limit) -> `createBatcher` (adaptive size and interval, per-key order) ->
 *   `createPostgresSink` (one multi-row upsert per batch, `statement_timeout`).
 *
 * Each meets the same schedule: messages published at RATE a second (open loop, on a connection of its
 * own), 2 s of warm-up, then `before` (8 s), then `slowdown` (8 s), during which a statement-level trigger
 * sleeps SLOWDOWN_MS in every INSERT on the table (a slow commit, a far or busy database), then the
 * publishing stops and the backlog drains. Per phase: messages committed per second (by commit time),
 * end-to-end latency from publish to commit (p50, p99), and the sink's write latency per statement (p50,
 * p99; for the batching consumers a statement is a batch).
 *
 * Targets (issue 7), printed as verdicts, not enforced: during the slowdown sluice commits more per second
 * and with a lower end-to-end p99 than both fixed consumers; before it, its throughput is within 5% of theirs
 * (of the offered rate, for a consumer still catching up on its warm-up).
 * Writes benchmarks/results/pipeline.json.
 *
 *   npm run bench:pipeline
 *
 * About 90 seconds.
 */

import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import pg from 'pg';
import { createBatcher } from '../src/batch/index.ts';
import { aimd } from '../src/limits/index.ts';
import { classifyPostgresError, createPostgresSink } from '../src/postgres/index.ts';
import { rabbitmqConsumer } from '../src/rabbitmq/index.ts';
import { environment, fixed, rankQuantile, table, writeJson } from './lib/harness.ts';

const AMQP_URL = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE_URL = process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
const quick = process.argv.includes('--quick');
/** Messages published per second. */
const RATE = 2000;
const KEYS = 100;
const WARMUP_MS = 2000;
const PHASE_MS = quick ? 4000 : 8000;
/** Sleep added to every INSERT statement during the slowdown. */
const SLOWDOWN_MS = 100;
/** Longest wait for the backlog after publishing stops. */
const DRAIN_LIMIT_MS = 60_000;
const PHASES = ['before', 'slowdown'] as const;
type Phase = (typeof PHASES)[number];

interface Event {
  readonly id: string;
  readonly key: string;
  readonly seq: number;
  /** performance.now() at publish: same process, same clock. */
  readonly sentAt: number;
}

const columns = ['id', 'key', 'seq', 'sent_at', 'payload'];
const values = (e: Event): unknown[] => [e.id, e.key, e.seq, e.sentAt, JSON.stringify({ seq: e.seq })];

/** What a consumer reports: each commit (with the message's publish time) and each write statement. */
class Recorder {
  readonly commits: { at: number; latency: number }[] = [];
  readonly writes: { at: number; latency: number; rows: number }[] = [];
  commit(sentAt: number): void {
    const now = performance.now();
    this.commits.push({ at: now, latency: now - sentAt });
  }
  write(latency: number, rows: number): void {
    this.writes.push({ at: performance.now(), latency, rows });
  }
}

interface Running {
  stop(): Promise<void>;
}

interface Candidate {
  readonly name: string;
  readonly sluice: boolean;
  start(
    connection: amqplib.ChannelModel,
    pool: pg.Pool,
    queue: string,
    tableName: string,
    r: Recorder,
  ): Promise<Running>;
}

const parse = (content: Buffer): Event => JSON.parse(content.toString('utf8')) as Event;

function insertSql(tableName: string, rows: number): string {
  const tuples = Array.from(
    { length: rows },
    (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`,
  );
  return `INSERT INTO ${tableName} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (id) DO NOTHING`;
}

const candidates: readonly Candidate[] = [
  {
    name: 'prefetch 100, insert each',
    sluice: false,
    async start(connection, pool, queue, tableName, r) {
      const channel = await connection.createChannel();
      await channel.prefetch(100);
      const sql = insertSql(tableName, 1);
      let inflight = 0;
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) return;
        const event = parse(message.content);
        const started = performance.now();
        inflight++;
        pool.query(sql, values(event)).then(
          () => {
            r.write(performance.now() - started, 1);
            r.commit(event.sentAt);
            channel.ack(message);
            inflight--;
          },
          () => {
            channel.nack(message, false, true);
            inflight--;
          },
        );
      });
      return {
        async stop() {
          await channel.cancel(consumerTag);
          while (inflight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
          await channel.close();
        },
      };
    },
  },
  {
    name: 'prefetch 500, batches of 100',
    sluice: false,
    async start(connection, pool, queue, tableName, r) {
      const channel = await connection.createChannel();
      await channel.prefetch(500);
      let batch: amqplib.ConsumeMessage[] = [];
      let timer: NodeJS.Timeout | undefined;
      let writing: Promise<void> = Promise.resolve();
      const flush = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        if (batch.length === 0) return;
        const messages = batch;
        batch = [];
        // One batch at a time, in order: the next waits for this one.
        writing = writing.then(async () => {
          const events = messages.map((m) => parse(m.content));
          const started = performance.now();
          try {
            await pool.query(insertSql(tableName, events.length), events.flatMap(values));
            r.write(performance.now() - started, events.length);
            for (const e of events) r.commit(e.sentAt);
            for (const m of messages) channel.ack(m);
          } catch {
            for (const m of messages) channel.nack(m, false, true);
          }
        });
      };
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) return;
        batch.push(message);
        if (batch.length >= 100) flush();
        else timer ??= setTimeout(flush, 50);
      });
      return {
        async stop() {
          await channel.cancel(consumerTag);
          flush();
          await writing;
          await channel.close();
        },
      };
    },
  },
  {
    name: 'sluice',
    sluice: true,
    async start(connection, pool, queue, tableName, r) {
      // As in examples/pipeline.ts, on the one table.
      const sink = createPostgresSink<Event>({
        pool,
        table: tableName,
        columns,
        values,
        conflict: 'id',
        statementTimeout: 2000,
      });
      sink.on('write', (e) => {
        if (e.outcome === 'success') r.write(e.latency, e.items);
      });
      const batcher = createBatcher<Event>({
        flush: (events) => sink.write(events),
        maxSize: 1000,
        maxWait: 100,
        key: (e) => e.key,
        retry: { attempts: 3 },
      });
      const consumer = rabbitmqConsumer({
        connection,
        queue,
        handler: async (message) => {
          const event = parse(message.body);
          await batcher.add(event);
          r.commit(event.sentAt);
        },
        limit: aimd({ initial: 1000, min: 10, max: 4000, increase: 200, backoff: 0.5 }),
        classify: classifyPostgresError,
        maxDeliveries: 10,
        delayQueues: true,
      });
      await consumer.start();
      return {
        async stop() {
          await consumer.stop();
          await batcher.close();
        },
      };
    },
  },
];

interface PhaseResult {
  readonly phase: Phase;
  readonly offered: number;
  readonly committed: number;
  readonly e2eP50: number;
  readonly e2eP99: number;
  readonly sinkP50: number;
  readonly sinkP99: number;
  readonly writes: number;
  readonly rowsPerWrite: number;
}

interface CandidateResult {
  readonly consumer: string;
  readonly sluice: boolean;
  readonly phases: readonly PhaseResult[];
  /** From the end of publishing until every message was committed (ms). */
  readonly drainMs: number;
  readonly messages: number;
  readonly rows: number;
}

async function run(candidate: Candidate, publisher: amqplib.ConfirmChannel): Promise<CandidateResult> {
  const id = randomUUID().replace(/-/g, '').slice(0, 10);
  const queue = `sluice.bench.pipeline.${id}`;
  const tableName = `sluice_bench_pipeline_${id}`;
  const connection = await amqplib.connect(AMQP_URL);
  connection.on('error', () => {});
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
  pool.on('error', () => {});
  await publisher.assertQueue(queue, { durable: true });
  await pool.query(
    `CREATE TABLE ${tableName} (id text PRIMARY KEY, key text NOT NULL, seq int NOT NULL,
                                sent_at double precision NOT NULL, payload jsonb NOT NULL)`,
  );
  await pool.query(`CREATE FUNCTION ${tableName}_slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${SLOWDOWN_MS / 1000}); RETURN NULL; END $$`);
  const recorder = new Recorder();
  const running = await candidate.start(connection, pool, queue, tableName, recorder);

  const started = performance.now();
  const marks = { before: started + WARMUP_MS, slowdown: started + WARMUP_MS + PHASE_MS };
  const end = marks.slowdown + PHASE_MS;
  let sent = 0;
  let slowed = false;
  while (performance.now() < end) {
    const now = performance.now();
    if (!slowed && now >= marks.slowdown) {
      slowed = true;
      await pool.query(
        `CREATE TRIGGER ${tableName}_slow BEFORE INSERT ON ${tableName} FOR EACH STATEMENT EXECUTE FUNCTION ${tableName}_slow()`,
      );
    }
    const due = Math.floor(((now - started) * RATE) / 1000);
    for (; sent < due; sent++) {
      const event: Event = {
        id: `m${sent}`,
        key: `k${sent % KEYS}`,
        seq: Math.floor(sent / KEYS),
        sentAt: performance.now(),
      };
      publisher.sendToQueue(queue, Buffer.from(JSON.stringify(event)), { messageId: event.id });
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await publisher.waitForConfirms();
  await pool.query(`DROP TRIGGER ${tableName}_slow ON ${tableName}`);
  const publishedAt = performance.now();
  while (recorder.commits.length < sent && performance.now() - publishedAt < DRAIN_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const drainMs = performance.now() - publishedAt;
  await running.stop();
  const rows = Number((await pool.query(`SELECT count(*) AS n FROM ${tableName}`)).rows[0].n);

  const phases = PHASES.map((phase): PhaseResult => {
    const from = marks[phase];
    const to = from + PHASE_MS;
    const commits = recorder.commits.filter((c) => c.at >= from && c.at < to);
    const writes = recorder.writes.filter((w) => w.at >= from && w.at < to);
    const e2e = commits.map((c) => c.latency).sort((a, b) => a - b);
    const sink = writes.map((w) => w.latency).sort((a, b) => a - b);
    const seconds = PHASE_MS / 1000;
    return {
      phase,
      offered: RATE,
      committed: commits.length / seconds,
      e2eP50: rankQuantile(e2e, 0.5),
      e2eP99: rankQuantile(e2e, 0.99),
      sinkP50: rankQuantile(sink, 0.5),
      sinkP99: rankQuantile(sink, 0.99),
      writes: writes.length,
      rowsPerWrite: writes.length === 0 ? 0 : writes.reduce((n, w) => n + w.rows, 0) / writes.length,
    };
  });

  const admin = await connection.createChannel();
  admin.on('error', () => {});
  const buckets = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 600_000];
  for (const q of [queue, `${queue}.dead`, ...buckets.map((b) => `${queue}.delay.${b}`)]) {
    await admin.deleteQueue(q).catch(() => {});
  }
  await connection.close().catch(() => {});
  await pool.query(`DROP TABLE ${tableName}`);
  await pool.query(`DROP FUNCTION ${tableName}_slow()`);
  await pool.end();
  return { consumer: candidate.name, sluice: candidate.sluice, phases, drainMs, messages: sent, rows };
}

console.log(`sluice: the pipeline benchmark — ${process.version}${quick ? ' (quick)' : ''}`);
console.log(
  `RabbitMQ -> consumer -> PostgreSQL; ${RATE} messages/s offered over ${KEYS} keys; ${WARMUP_MS / 1000} s of ` +
    `warm-up, then ${PHASE_MS / 1000} s before and ${PHASE_MS / 1000} s during a slowdown of ${SLOWDOWN_MS} ms ` +
    'per INSERT statement',
);

let publisherConnection: amqplib.ChannelModel;
try {
  publisherConnection = await amqplib.connect(AMQP_URL);
  const probe = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  await probe.query('SELECT 1');
  await probe.end();
} catch (error) {
  console.error(
    `pipeline benchmark: needs RabbitMQ (${AMQP_URL}) and PostgreSQL (${DATABASE_URL}): ${String(error)}`,
  );
  process.exit(1);
}
publisherConnection.on('error', () => {});
const publisher = await publisherConnection.createConfirmChannel();

const results: CandidateResult[] = [];
for (const candidate of candidates) {
  const result = await run(candidate, publisher);
  results.push(result);
  console.log(
    `  ${candidate.name}: ${result.phases.map((p) => `${p.phase} ${fixed(p.committed, 0)}/s p99 ${fixed(p.e2eP99, 0)} ms`).join(', ')}; ` +
      `drained in ${fixed(result.drainMs / 1000, 1)} s; ${result.rows} rows for ${result.messages} messages`,
  );
}
await publisherConnection.close();

table(
  'per phase: messages committed per second; end-to-end latency, publish to commit (ms); write latency per statement (ms)',
  [
    'consumer',
    'phase',
    'offered/s',
    'committed/s',
    'e2e p50',
    'e2e p99',
    'sink p50',
    'sink p99',
    'rows/write',
  ],
  results.flatMap((r) =>
    r.phases.map((p) => [
      r.consumer,
      p.phase,
      fixed(p.offered, 0),
      fixed(p.committed, 0),
      fixed(p.e2eP50, 0),
      fixed(p.e2eP99, 0),
      fixed(p.sinkP50, 1),
      fixed(p.sinkP99, 1),
      fixed(p.rowsPerWrite, 1),
    ]),
  ),
);

const sluice = results.find((r) => r.sluice)!;
const others = results.filter((r) => !r.sluice);
const phaseOf = (r: CandidateResult, phase: Phase): PhaseResult => r.phases.find((p) => p.phase === phase)!;
const verdicts = {
  slowdownThroughput: others.every(
    (o) => phaseOf(sluice, 'slowdown').committed > phaseOf(o, 'slowdown').committed,
  ),
  slowdownP99: others.every((o) => phaseOf(sluice, 'slowdown').e2eP99 < phaseOf(o, 'slowdown').e2eP99),
  // A consumer still catching up on its warm-up commits above the offered rate: compare with what was offered.
  beforeThroughput: others.every(
    (o) => phaseOf(sluice, 'before').committed >= 0.95 * Math.min(RATE, phaseOf(o, 'before').committed),
  ),
  everyMessageOnce: results.every((r) => r.rows === r.messages),
};
console.log('\ntargets (issue 7):');
console.log(
  `  during the slowdown, sluice commits more per second than both: ${verdicts.slowdownThroughput ? 'MET' : 'NOT MET'}`,
);
console.log(
  `  during the slowdown, sluice's end-to-end p99 is lower than both: ${verdicts.slowdownP99 ? 'MET' : 'NOT MET'}`,
);
console.log(
  `  before it, sluice's throughput is within 5% of both (of the offered rate, for one catching up): ${
    verdicts.beforeThroughput ? 'MET' : 'NOT MET'
  }`,
);
console.log(`  every consumer wrote every message once: ${verdicts.everyMessageOnce ? 'yes' : 'NO'}`);

writeJson(new URL('./results/pipeline.json', import.meta.url), {
  environment: environment(),
  settings: {
    rate: RATE,
    keys: KEYS,
    warmupMs: WARMUP_MS,
    phaseMs: PHASE_MS,
    slowdownMs: SLOWDOWN_MS,
    quick,
  },
  unit: 'rates in messages per second; latencies in ms; e2e = publish to commit; sink = one write statement',
  verdicts,
  results,
});
console.log('\nwrote benchmarks/results/pipeline.json');
