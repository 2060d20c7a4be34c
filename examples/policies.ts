// The README's fault-tolerance examples, type-checked by `npm test` (not run: the downstream calls are declared).

import { createFetch } from '../src/http/index.ts';
import {
  createBreaker,
  createDegrader,
  createLimiter,
  createRetry,
  createRetryBudget,
  createThrottle,
  createTimeout,
  decorrelatedJitterBackoff,
  guard,
  isCircuitOpenError,
  systemClock,
} from '../src/index.ts';

declare function callInventory(signal: AbortSignal | undefined): Promise<string>;
declare const cache: { get(): string };
declare function render(): string;
declare function renderWithoutRecommendations(): string;

// --- breaker
const breaker = createBreaker({
  failureRate: 0.5, // trips at 50% failures...
  minimumCalls: 20, // ...over at least 20 calls...
  window: { duration: 10_000 }, // ...in the last 10 s
  openDuration: 5_000, // then probes after 5 s, 10 s, then every 20 s (4x) while it keeps failing
  conservative: { priority: 'critical' }, // critical calls still trickle through while open
});
try {
  await breaker.execute(({ signal }) => callInventory(signal));
} catch (error) {
  if (isCircuitOpenError(error)) console.log(`open; retry in ${error.retryAfterMs} ms`);
}

// --- retry within a budget
const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 1 }); // share one per downstream
const retry = createRetry({ attempts: 3, backoff: decorrelatedJitterBackoff({ base: 100 }), budget });
const timeout = createTimeout({ timeout: 2_000 });
await retry.execute((ctx) => timeout.execute(({ signal }) => callInventory(signal), ctx));

// --- throttle
const throttle = createThrottle({ k: 2 });
await throttle.execute(({ signal }) => callInventory(signal), { priority: 'low' });

// --- degradation
const degrader = createDegrader({
  source: () => ({ latency: 80, latencyBaseline: 40, queueDepth: 10, queueCapacity: 100 }),
});
const page = degrader.run({
  normal: () => render(),
  elevated: () => renderWithoutRecommendations(), // skip non-critical work
  critical: () => cache.get(), // serve stale
});
void page;
degrader.close();

// --- guard: retry -> breaker -> throttle -> limiter -> timeout
const inventory = guard({
  name: 'inventory',
  timeout: 2_000,
  retry: { attempts: 3 },
  breaker: { failureRate: 0.5 },
});
const stock = await inventory.execute(({ signal }) => callInventory(signal), { priority: 'high' });
void stock;
const getStock = inventory.wrap((sku: string) => callInventory(undefined).then((s) => `${sku}: ${s}`));
await getStock('A-42');

// --- guarded fetch: one guard per origin
const fetchGuarded = createFetch();
const res = await fetchGuarded('https://inventory.internal/items/42', { sluice: { priority: 'critical' } });
void res.status;

// --- the limiter (README: The limiter)
declare const api: string;
declare const tenantId: string;
const limiter = createLimiter();
const user = await limiter.run(
  ({ signal }) => fetch(`${api}/users/42`, { signal: signal ?? null }).then((r) => r.json()),
  {
    priority: 'critical',
    deadline: systemClock.now() + 250,
    key: tenantId,
  },
);
void user;
