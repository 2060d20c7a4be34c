// docs/guides/distributed.md, runnable: sh scripts/use-node.sh node examples/guides/distributed.ts
//
// Everything here runs in one process, on the in-memory store and transport: the same contracts as Redis
// and NATS (examples/guides/distributed-services.ts shows those, and the brokers, type-checked only).

import {
  aimd,
  type ConsumerMessage,
  type ConsumerSource,
  createBatcher,
  createConsumer,
  createLimiter,
  type DeadLetterInfo,
  defaultLimit,
  type GlobalStore,
  globalLimiter,
  isRejectedError,
  memoryStore,
  memoryTransport,
  PressureMeter,
  pressureCap,
  pressurePublisher,
  sleep,
  subscribePressure,
  systemClock,
} from '../../src/index.ts';

/**
 * A minimal broker adapter over an array: what `rabbitmqConsumer`, `jetstreamConsumer` and
 * `redisStreamConsumer` implement for their brokers. The consumer engine owns the pacing; the source only
 * receives, settles and hands back.
 */
class ArrayBroker implements ConsumerSource<ConsumerMessage<string, undefined>> {
  readonly name = 'array';
  readonly dead: string[] = [];
  readonly #ready: { id: string; body: string; deliveries: number }[];
  #wake: (() => void) | undefined;

  constructor(bodies: readonly string[]) {
    this.#ready = bodies.map((body, i) => ({ id: String(i), body, deliveries: 0 }));
  }

  async receive(
    max: number,
    deliver: (message: ConsumerMessage<string, undefined>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    while (this.#ready.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#wake = wake;
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    for (const m of this.#ready.splice(0, max)) {
      m.deliveries++;
      deliver({ id: m.id, body: m.body, deliveries: m.deliveries, priority: 0, raw: undefined });
    }
  }

  async ack(): Promise<void> {}

  async requeue(message: ConsumerMessage<string, undefined>): Promise<void> {
    this.#ready.push({ id: message.id, body: message.body, deliveries: message.deliveries });
    this.#wake?.();
  }

  async deadLetter(message: ConsumerMessage<string, undefined>, _info: DeadLetterInfo): Promise<void> {
    this.dead.push(message.body);
  }

  async close(): Promise<void> {}
}

// --- 1. A global concurrency limit shared by two instances through one store.
const store = memoryStore(); // redisStore({ redis }) from 'sluice/redis' across machines
const instances = [1, 2].map((i) =>
  globalLimiter({ name: `api-${i}`, store, key: 'payments', limit: 4, fallback: { instances: 2 } }),
);
const held = await Promise.allSettled(
  Array.from({ length: 6 }, (_, i) => instances[i % 2]!.acquire()), // wait 0: refused at once at the limit
);
console.log(
  `global: ${held.filter((h) => h.status === 'fulfilled').length} of 6 granted across both instances`,
  `(${held.filter((h) => h.status === 'rejected' && isRejectedError(h.reason)).length} refused, reason "limit")`,
);
for (const h of held) if (h.status === 'fulfilled') h.value.release();

// While the store is unavailable, each instance enforces its share alone (here 4 / 2 = 2) and probes it.
let down = false;
const flaky: GlobalStore = new Proxy(store, {
  get(target, key, receiver) {
    const value = Reflect.get(target, key, receiver);
    if (typeof value !== 'function') return value;
    return (...args: unknown[]) =>
      down ? Promise.reject(new Error('connection refused')) : value.apply(target, args);
  },
});
const alone = globalLimiter({
  name: 'alone',
  store: flaky,
  key: 'orders',
  limit: 6,
  fallback: { mode: 'local-share', instances: 3 },
  probeInterval: 20,
});
alone.on('mode', (e) => console.log(`global: ${e.previous} -> ${e.mode} (enforcing ${e.localLimit} alone)`));
down = true;
const onFallback = await Promise.allSettled(Array.from({ length: 3 }, () => alone.acquire()));
console.log(
  `global: ${onFallback.filter((r) => r.status === 'fulfilled').length} of 3 granted on the fallback`,
);
for (const r of onFallback) if (r.status === 'fulfilled') r.value.release();
down = false;
await sleep(systemClock, 50); // the next probe finds the store and rejoins
await alone.close();
for (const g of instances) await g.close();

// --- 2. The pressure bus: a downstream publishes its pressure; callers lower their limit before it slows.
const transport = memoryTransport(); // redisPressureTransport (sluice/redis) or natsPressureTransport (sluice/nats)
const meter = new PressureMeter({ name: 'inventory' });
const publisher = pressurePublisher({ transport, name: 'inventory', meter, interval: 100 });
const inventory = await subscribePressure({ transport, name: 'inventory' });
const capped = pressureCap(defaultLimit(), { signal: inventory }); // cut starts at 0.35, 90% at pressure 1
const caller = createLimiter({ name: 'to-inventory', limit: capped });
meter.update({ queueDepth: 90, queueCapacity: 100 }, systemClock.now()); // the downstream's queue fills
await publisher.publish();
await sleep(systemClock, 5);
console.log(
  `pressure: ${inventory.pressure?.toFixed(2)} from ${inventory.instances} instance(s);`,
  `caller limit ${caller.limit} (cap ${capped.cap}, inner ${defaultLimit().current})`,
);
capped.stop();
inventory.close();

// --- 3. An adaptive consumer over a broker adapter, acknowledging once the batch holding a message commits.
const table: string[] = [];
let slow = false;
const batcher = createBatcher<string>({
  name: 'events',
  maxSize: 200,
  maxWait: 20,
  flush: async (items) => {
    await sleep(systemClock, slow ? 40 : 2); // a database write: a fixed cost per statement
    table.push(...items);
  },
});
batcher.on('size', (e) => console.log(`  batch size ${e.previous} -> ${e.size} by ${e.rule}`));

const broker = new ArrayBroker(Array.from({ length: 1_000 }, (_, i) => `event-${i}`));
const consumer = createConsumer(broker, {
  handler: (message) => batcher.add(message.body), // acked only when this resolves: after the commit
  // Enough handlers in flight to fill a batch while another is written; sink failures halve it (the
  // reference pipeline, examples/pipeline.ts, does the same). The default is latency-based, from 10.
  limit: aimd({ initial: 400, min: 10, max: 2_000, increase: 100, backoff: 0.5 }),
  maxDeliveries: 3,
});
await consumer.start();
while (consumer.snapshot().acked < 500) await sleep(systemClock, 10);
slow = true; // the sink slows down: batches grow, fewer statements carry the same rows
while (consumer.snapshot().acked < 1_000) await sleep(systemClock, 10);
await consumer.stop();
await batcher.close();
const c = consumer.snapshot();
console.log(
  `consumer: acked ${c.acked}, limit ${c.limit}, window ${c.window}; table holds ${table.length} rows`,
);
console.log(
  `batcher: ${JSON.stringify(pick(batcher.snapshot(), ['size', 'flushes', 'committed', 'latencyMs']))}`,
);

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
