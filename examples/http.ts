// The README's HTTP examples, type-checked by `npm test` (not run).
import { createServer } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { expressProtection } from '../src/express.ts';
import { fastifyProtection } from '../src/fastify.ts';
import { byHeader, byRoute, protect } from '../src/http/index.ts';
import { createProxy } from '../src/proxy/index.ts';

// node:http
const server = createServer(
  protect(
    (_req, res) => {
      res.end('ok');
    },
    {
      classify: [
        byRoute({ '/checkout': { priority: 'critical' }, '/recommendations': { priority: 'sheddable' } }),
        byHeader({ key: 'x-tenant' }), // fair turns between tenants
      ],
      maxPerKey: 50, // one tenant over 50 in flight gets 429
    },
  ),
);
server.listen(3000);

// Graceful shutdown
const listener = protect((_req, res) => {
  res.end('ok');
});
const drained = createServer(listener).listen(3001);
process.once('SIGTERM', async () => {
  await listener.protection.close();
  drained.close();
});

// Express 5
const app = express();
app.use(expressProtection({ classify: byRoute({ '/admin': { priority: 'critical' } }) }));

// Fastify 5
const fastify = Fastify();
await fastify.register(fastifyProtection, { deadlineHeader: 'x-request-timeout' });

// The proxy, embedded
const proxy = createProxy({
  upstream: 'http://127.0.0.1:3000',
  port: 8080,
  routes: [{ path: '/api/**', priority: 'high' }],
});
await proxy.start();
