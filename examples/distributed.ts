// The README's examples for global limits, pressure signals, batching and the PostgreSQL sink and for
// metrics and the dashboard, type-checked by `npm test` (not run: the clients are declared).

import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import pino from 'pino';
import { createDashboard } from '../src/dashboard/index.ts';
import {
  createBatcher,
  createBreaker,
  createLimiter,
  defaultLimit,
  globalLimiter,
  pressureCap,
  subscribePressure,
} from '../src/index.ts';
import { createMetrics, logDecisions } from '../src/metrics/index.ts';
import { createPostgresSink } from '../src/postgres/index.ts';
import { redisPressureTransport, redisStore, redisStreamConsumer } from '../src/redis/index.ts';

interface Event {
  id: string;
  account: string;
  seq: number;
  body: string;
}
declare function chargeCard(order: unknown): Promise<void>;
declare const order: unknown;
declare const pool: Pool;
declare const event: Event;

// --- global limit
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const payments = globalLimiter({
  store: redisStore({ redis }),
  key: 'payments-api',
  limit: 50,
  fallback: { mode: 'local-share', instances: 5 }, // 10 each while Redis is away
});
await payments.execute(() => chargeCard(order));

// --- pressure signals
const inventory = await subscribePressure({
  transport: redisPressureTransport({ redis }),
  name: 'inventory',
});
const limiter = createLimiter({ limit: pressureCap(defaultLimit(), { signal: inventory }) });

// --- batching into PostgreSQL
const sink = createPostgresSink<Event>({
  pool,
  table: 'events',
  columns: ['id', 'account', 'seq', 'body'],
  values: (e) => [e.id, e.account, e.seq, e.body],
});
const batcher = createBatcher<Event>({
  flush: (batch) => sink.write(batch),
  maxSize: 1000,
  maxWait: 100,
  key: (e) => e.account,
});
await batcher.add(event); // resolves once its batch is committed

// --- metrics and logs
const breaker = createBreaker({ name: 'payments' });
const metrics = createMetrics(); // prom-client's default registry; names start with sluice_
metrics.track(limiter, { name: 'api' });
metrics.track(breaker, { name: 'payments' });
createServer(metrics.handler).listen(9464);
logDecisions(breaker, pino());

// --- dashboard
const dashboard = createDashboard({ title: 'checkout' });
dashboard.track(limiter, { name: 'api' });
const { url } = await dashboard.listen({ port: 9400 }); // http://127.0.0.1:9400/
console.log(url);

// --- adaptive queue consumer
const consumer = redisStreamConsumer({
  redis,
  stream: 'events',
  group: 'ingest',
  handler: (message) => batcher.add(JSON.parse(String(message.body['payload']))), // acked once committed
  shed: (message) => (inventory.pressure ?? 0) > 0.8 && message.priority < 1, // hand back, never drop
  maxDeliveries: 5,
});
await consumer.start();
process.on('SIGTERM', () => consumer.stop());
