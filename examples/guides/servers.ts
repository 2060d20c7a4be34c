// docs/guides/servers.md, runnable: sh scripts/use-node.sh node examples/guides/servers.ts

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { expressProtection } from '../../src/express.ts';
import { fastifyProtection } from '../../src/fastify.ts';
import { byHeader, byMethod, byRoute, createServerProtection, protect } from '../../src/http/index.ts';
import { sleep, systemClock } from '../../src/index.ts';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// --- node:http: a handler that takes 50 ms, behind a small fixed limit so that a burst overflows it.
const listener = protect(
  async (_req, res) => {
    await sleep(systemClock, 50);
    res.end('ok');
  },
  {
    limit: 4, // omit for the adaptive default
    queue: { size: 4, timeout: 200 },
    classify: [
      byRoute({ '/checkout': { priority: 'critical' }, '/recommendations': { priority: 'sheddable' } }),
      byMethod({ DELETE: { priority: 'high' } }),
      byHeader({ key: 'x-tenant' }), // fair turns between tenants; trust headers only behind your proxy
    ],
    maxPerKey: 3, // a tenant holding 3 (in flight and queued) gets 429
  },
);
const server = createServer(listener);
const base = await listen(server);

const statuses = await Promise.all(
  Array.from({ length: 16 }, (_, i) =>
    fetch(`${base}/recommendations`, { headers: { 'x-tenant': `t${i % 2}` } }).then(async (r) => {
      await r.arrayBuffer();
      return `${r.status}${r.headers.get('retry-after') === null ? '' : ` (Retry-After ${r.headers.get('retry-after')})`}`;
    }),
  ),
);
console.log('burst of 16:', count(statuses));

// The client's remaining time, in ms: a request that cannot start in time is refused (503) up front or
// as soon as its deadline passes in the queue. Here the queue is busy for longer than 20 ms.
const busy = Array.from({ length: 8 }, () => fetch(`${base}/recommendations`).then((r) => r.text()));
await sleep(systemClock, 5);
const late = await fetch(`${base}/checkout`, { headers: { 'x-request-timeout': '20' } });
console.log(`x-request-timeout 20 ms behind a busy queue: ${late.status} ${await late.text()}`);
await Promise.all(busy);
const bad = await fetch(`${base}/checkout`, { headers: { 'x-request-timeout': 'soon' } });
console.log(`malformed deadline: ${bad.status}`);

// Health: liveness is 200 while the process answers; readiness is 503 under critical pressure or draining.
const ready = await fetch(`${base}/health/ready`);
console.log(`ready: ${ready.status} ${await ready.text()}`);

// Per-route counts and latency, for metrics (sluice/metrics reads the same snapshot).
const routes = listener.protection.snapshot().routes;
for (const [route, r] of Object.entries(routes)) {
  console.log(`  ${route}: success ${r.success}, shed ${r.shed}, quota ${r.quota}, invalid ${r.invalid}`);
}

// Draining: readiness turns 503, new requests get 503 + Connection: close, in-flight ones finish.
const inflight = fetch(`${base}/checkout`).then((r) => r.text());
await sleep(systemClock, 10);
const drained = listener.protection.close();
const during = await fetch(`${base}/checkout`);
console.log(`while draining: new request ${during.status}; in flight -> ${await inflight}`);
console.log('drain:', JSON.stringify(await drained));
server.close();

// --- Express 5: mount it first, so refused requests cost nothing.
const app = express();
const middleware = expressProtection({ classify: byRoute({ '/admin': { priority: 'critical' } }) });
app.use(middleware);
app.get('/hello', (_req, res) => {
  res.send('hello from express');
});
const expressServer = createServer(app);
const expressBase = await listen(expressServer);
console.log(`express: ${await (await fetch(`${expressBase}/hello`)).text()}`);
await middleware.protection.close();
expressServer.close();

// --- Fastify 5: classifiers see the route template; fastify.close() drains.
const fastify = Fastify();
await fastify.register(fastifyProtection, { classify: byRoute({ '/users/:id': { priority: 'high' } }) });
fastify.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));
const fastifyBase = await fastify.listen({ port: 0, host: '127.0.0.1' });
console.log(
  `fastify: ${await (await fetch(`${fastifyBase}/users/7`)).text()}, limit ${fastify.sluice.limiter.limit}`,
);
await fastify.close();

// --- One core shared by several servers (or built once and handed to an adapter).
const core = createServerProtection({ name: 'api', pressure: { maxEventLoopDelay: 100 } });
const a = createServer(protect((_req, res) => res.end('a'), core));
const b = createServer(protect((_req, res) => res.end('b'), core));
console.log(`shared core: ${core.limiter.name}, level ${core.level}`);
await core.close();
a.close();
b.close();

function count(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
