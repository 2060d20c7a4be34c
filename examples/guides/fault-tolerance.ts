// docs/guides/fault-tolerance.md, runnable: sh scripts/use-node.sh node examples/guides/fault-tolerance.ts

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFetch } from '../../src/http/index.ts';
import {
  createBreaker,
  createDegrader,
  createRetry,
  createRetryBudget,
  createThrottle,
  createTimeout,
  decorrelatedJitterBackoff,
  guard,
  isCircuitOpenError,
  isRejectedError,
  isTimeoutError,
  sleep,
  systemClock,
} from '../../src/index.ts';

/** A dependency that fails while `down` is true, and answers in `delay` ms otherwise. */
const dependency = { down: false, delay: 2, calls: 0 };
async function callInventory(signal: AbortSignal | undefined): Promise<string> {
  dependency.calls++;
  await sleep(systemClock, dependency.delay, signal);
  if (dependency.down) throw Object.assign(new Error('inventory: 503'), { status: 503 });
  return 'in stock';
}

// --- Circuit breaker: trips on a failure rate over a window, fails fast while open, probes to close.
const breaker = createBreaker({
  name: 'inventory',
  consecutiveFailures: 5, // trips on 5 failures in a row...
  failureRate: 0.5, // ...or 50% failures...
  minimumCalls: 10, // ...over at least 10 calls...
  window: { duration: 10_000 }, // ...in the last 10 s
  openDuration: 50, // then a probe after 50 ms, 100 ms, 200 ms (4x) while it keeps failing
});
breaker.on('state', (e) => console.log(`breaker ${e.from} -> ${e.to} (${e.reason.rule})`));
dependency.down = true;
for (let i = 0; i < 8; i++) {
  try {
    await breaker.execute(({ signal }) => callInventory(signal));
  } catch (error) {
    if (isCircuitOpenError(error)) {
      console.log(`  refused fast: ${error.state}, retry in ${Math.ceil(error.retryAfterMs)} ms`);
      break;
    }
  }
}
dependency.down = false;
await sleep(systemClock, 60);
console.log(`  after the open period: ${await breaker.execute(({ signal }) => callInventory(signal))}`);

// --- Retries on a budget shared per downstream, each attempt bounded by a timeout.
const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 1 });
const retry = createRetry({ attempts: 3, backoff: decorrelatedJitterBackoff({ base: 5, max: 50 }), budget });
retry.on('give-up', (e) => console.log(`retry gave up after ${e.attempts} attempt(s): ${e.why}`));
const timeout = createTimeout({ timeout: 20 }); // aborts the work's signal; TimeoutError is an overload signal
dependency.delay = 50; // slower than the timeout
try {
  await retry.execute((ctx) => timeout.execute(({ signal }) => callInventory(signal), ctx));
} catch (error) {
  console.log(
    `  ${isTimeoutError(error) ? 'timed out' : String(error)}; budget ${JSON.stringify(budget.snapshot())}`,
  );
}
dependency.delay = 2;

// --- Client-side throttling: reject locally once the backend accepts less than 1 call in K.
const throttle = createThrottle({ k: 2, window: 1_000, slots: 10 });
dependency.down = true;
let shed = 0;
for (let i = 0; i < 40; i++) {
  try {
    await throttle.execute(({ signal }) => callInventory(signal), { priority: 'low' });
  } catch (error) {
    if (isRejectedError(error)) shed++;
  }
}
dependency.down = false;
console.log(
  `throttle: ${shed} of 40 low-priority calls shed locally; p(normal) = ${throttle.probability().toFixed(2)}`,
);

// --- Graceful degradation: a cheaper variant per pressure level.
const degrader = createDegrader({ name: 'pages' });
const render = () =>
  degrader.run({
    normal: () => 'page with recommendations',
    elevated: () => 'page without recommendations',
    critical: () => 'cached page',
  });
console.log(`degrade: ${degrader.level} -> ${render()}`);
degrader.update(0.95); // a ready-made score in [0, 1], or PressureInputs (latency, queue, drops...)
console.log(`degrade: ${degrader.level} -> ${render()}`);
degrader.close();

// --- guard(): retry -> breaker -> throttle -> limiter -> timeout, outermost first.
const inventory = guard({
  name: 'inventory',
  timeout: 200,
  retry: { attempts: 3, backoff: decorrelatedJitterBackoff({ base: 5, max: 50 }) },
  breaker: { failureRate: 0.5 },
});
const stock = await inventory.execute(({ signal }) => callInventory(signal), { priority: 'high' });
const getStock = inventory.wrap((sku: string) => callInventory(undefined).then((s) => `${sku}: ${s}`));
console.log(`guard: ${stock}; ${await getStock('sku-1')}; limit ${inventory.limiter?.limiter.limit}`);

// --- The guarded fetch: one guard per origin, HTTP answers read for each policy.
let hits = 0;
const server = createServer((_req, res) => {
  hits++;
  // The first answer is a 503 with Retry-After: the retry waits for it, then succeeds.
  if (hits === 1) res.writeHead(503, { 'retry-after': '0' }).end('busy');
  else res.end('ok');
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;
const guardedFetch = createFetch({ perOrigin: () => ({ timeout: 1_000 }) });
const res = await guardedFetch(`http://127.0.0.1:${port}/items/42`, { sluice: { priority: 'critical' } });
console.log(`fetch: ${res.status} ${await res.text()} after ${hits} request(s)`);
server.close();
