// docs/guides/distributed.md: the parts that need Redis, RabbitMQ, NATS or PostgreSQL. Type-checked by
// `npm test`, not run (the clients are declared). examples/pipeline.ts is the runnable reference pipeline.

import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ChannelModel } from 'amqplib';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import {
  aimd,
  createBatcher,
  createLimiter,
  defaultLimit,
  globalLimiter,
  PressureMeter,
  pressureCap,
  pressurePublisher,
  subscribePressure,
} from '../../src/index.ts';
import { jetstreamConsumer, natsPressureTransport } from '../../src/nats/index.ts';
import { classifyPostgresError, createPostgresSink } from '../../src/postgres/index.ts';
import { rabbitmqConsumer } from '../../src/rabbitmq/index.ts';
import { redisPressureTransport, redisStore, redisStreamConsumer } from '../../src/redis/index.ts';
import {
  createAutoscaler,
  kubernetesActuator,
  natsCollector,
  queueBased,
  rabbitmqCollector,
} from '../../src/scale/index.ts';

declare const redis: Redis; // new Redis(process.env.REDIS_URL)
declare const amqp: ChannelModel; // await amqplib.connect(process.env.AMQP_URL)
declare const nc: NatsConnection; // await connect({ servers: 'nats://127.0.0.1:4222' })
declare const js: JetStreamClient; // jetstream(nc)
declare const pool: pg.Pool; // new pg.Pool({ connectionString }), with an 'error' listener
declare function chargeCard(order: unknown): Promise<void>;
declare const order: unknown;

interface Event {
  readonly id: string;
  readonly account: string;
  readonly seq: number;
  readonly body: unknown;
}
declare function parse(bytes: Uint8Array): Event;

// --- Global limits over Redis: 50 charges in flight across every instance.
const payments = globalLimiter({
  store: redisStore({ redis }),
  key: 'payments-api',
  limit: 50,
  leaseTtl: 10_000, // the permits of an instance that dies are reclaimed after this
  timeout: 100, // a store slower than this counts as unavailable: fall back
  fallback: { mode: 'local-share', instances: 5 }, // 10 each while Redis is away
});
await payments.execute(() => chargeCard(order));

// A rate rather than a concurrency: 200 calls per second across the fleet, bursts of 50.
export const partnerApi = globalLimiter({
  store: redisStore({ redis }),
  key: 'partner-api',
  rate: 200,
  burst: 50,
  wait: 500, // wait up to 500 ms for a token instead of refusing at once
  fallback: { mode: 'closed' }, // exceeding the partner's quota costs more than refusing
});

// --- The pressure bus over Redis pub/sub or NATS core.
const meter = new PressureMeter({ name: 'inventory' }); // fed by the inventory service, see the guide
pressurePublisher({ transport: redisPressureTransport({ redis }), name: 'inventory', meter }).start();
const inventory = await subscribePressure({ transport: natsPressureTransport({ nc }), name: 'inventory' });
export const toInventory = createLimiter({ limit: pressureCap(defaultLimit(), { signal: inventory }) });

// --- The PostgreSQL sink behind an adaptive batcher.
const sink = createPostgresSink<Event>({
  pool,
  table: 'account_state',
  columns: ['account', 'seq', 'id', 'body'],
  values: (e) => [e.account, e.seq, e.id, JSON.stringify(e.body)],
  conflict: 'account', // the unique key that makes the write idempotent
  version: 'seq', // an older event never overwrites a newer one
  statementTimeout: 2_000,
});
const batcher = createBatcher<Event>({
  name: 'account-state',
  flush: (batch) => sink.write(batch), // resolves with the poison rows, which fail alone
  maxSize: 1_000,
  maxWait: 100,
  key: (e) => e.account, // one account's events are written in order
  retry: { attempts: 3 },
});

// --- Adaptive consumers: acknowledge only once the batch holding the message is committed.
const common = {
  limit: aimd({ initial: 1_000, min: 10, max: 4_000, increase: 200, backoff: 0.5 }),
  classify: classifyPostgresError, // statement timeouts and lost connections are drops: intake backs off
  maxDeliveries: 10,
};

const fromRabbit = rabbitmqConsumer({
  ...common,
  connection: amqp,
  queue: 'events',
  delayQueues: true, // retries wait in `events.delay.<ms>` queues instead of spinning
  deadLetter: { queue: 'events.dead' },
  handler: (message) => batcher.add(parse(message.body)),
});

const fromJetStream = jetstreamConsumer({
  ...common,
  js,
  stream: 'EVENTS',
  consumer: 'writer', // a durable pull consumer with explicit acks
  deadLetterSubject: 'events.dead',
  handler: (message) => batcher.add(parse(message.body)),
});

const fromRedis = redisStreamConsumer({
  ...common,
  redis,
  stream: 'events',
  group: 'writers',
  claimIdle: 30_000, // entries a dead consumer held are claimed after 30 s
  handler: (message) =>
    batcher.add({
      id: message.id,
      account: message.body['account'] ?? '',
      seq: Number(message.body['seq']),
      body: message.body,
    }),
});

for (const consumer of [fromRabbit, fromJetStream, fromRedis]) await consumer.start();

// Shed low-priority messages while the database is under pressure (they go back to the broker).
export const polite = rabbitmqConsumer({
  connection: amqp,
  queue: 'reports',
  shed: (message) => message.priority < 0 && (inventory.pressure ?? 0) > 0.8,
  shedDelay: 2_000,
  handler: async () => {},
});

// --- Scale the writers on the backlog, with the consumer's own readings beside it.
const autoscaler = createAutoscaler({
  collectors: [
    rabbitmqCollector({ channel: await amqp.createChannel(), queues: ['events'] }),
    natsCollector({ jsm: await js.jetstreamManager(), stream: 'EVENTS', consumer: 'writer' }),
    fromRabbit.collector, // consumer:<name>: limit, inflight, ackRate, retryRate, deadLetterRate, ...
  ],
  // Both collectors report `backlog`, so each signal is named after its collector. A writer drains 2,000
  // events per second; each backlog should be gone within a minute. The larger answer wins.
  policies: [
    queueBased({ backlog: 'rabbitmq:events.backlog', rate: 2_000, drainTime: 60_000 }),
    queueBased({ backlog: 'nats:EVENTS/writer.backlog', rate: 2_000, drainTime: 60_000 }),
  ],
  actuator: kubernetesActuator({ kind: 'Deployment', name: 'writers', namespace: 'ingest' }),
  max: 20,
});
autoscaler.start();

// Shutdown: stop intake and finish what runs (acks included), then flush the batcher.
process.once('SIGTERM', async () => {
  await autoscaler.stop();
  for (const consumer of [fromRabbit, fromJetStream, fromRedis]) await consumer.stop({ timeout: 10_000 });
  await batcher.close();
  await payments.close();
});
