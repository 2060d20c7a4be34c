// docs/guides/proxy.md, runnable: sh scripts/use-node.sh node examples/guides/proxy.ts

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sleep, systemClock } from '../../src/index.ts';
import { createProxy, parseProxyConfig } from '../../src/proxy/index.ts';

// The service behind the proxy: any HTTP server, in any language. This one takes 30 ms a request.
const upstream = createServer(async (req, res) => {
  await sleep(systemClock, 30);
  res.end(`upstream saw ${req.method} ${req.url} from ${req.headers['x-forwarded-for']}`);
});
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

// The same options a config file holds (`sluice proxy --config proxy.yaml`), validated with line numbers.
const options = parseProxyConfig(`
listen: 127.0.0.1:0     # 0 picks a free port
upstream: ${upstreamUrl}
limit: 4                # "adaptive" (the default) or a fixed number
queue: { size: 4, timeout: 200 }
upstreamTimeout: 2000   # longest wait for the response headers: 504 past it
drainTimeout: 1000
routes:
  - { path: /api/orders/**, methods: [POST, PUT], priority: critical }
  - { path: /reports, priority: sheddable }
`);
const proxy = createProxy(options);
const { port } = await proxy.start();
const base = `http://127.0.0.1:${port}`;

console.log(await (await fetch(`${base}/api/orders/7`, { method: 'POST', body: '{}' })).text());

// A burst of sheddable report requests: the limit and the queue take 8, the rest are shed with 503.
const codes = await Promise.all(
  Array.from({ length: 12 }, () =>
    fetch(`${base}/reports`).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    }),
  ),
);
console.log(
  `12 reports: ${codes.filter((c) => c === 200).length} served, ${codes.filter((c) => c === 503).length} shed`,
);

// A reload applies new routes and timeouts to new requests and keeps the learned limit; options that
// need a restart (listen address, limit, queue) are named in its answer.
const needsRestart = proxy.reload({ ...options, routes: [{ path: '/reports', priority: 'low' }], limit: 8 });
console.log(`reload: routes ${proxy.settings.routes.size}; needs a restart for: ${needsRestart.join(', ')}`);

// Graceful shutdown (what SIGTERM does in `sluice proxy`): in-flight requests finish, then it closes.
const inflight = fetch(`${base}/api/orders/8`, { method: 'PUT', body: '{}' }).then((r) => r.status);
await sleep(systemClock, 5);
const closed = await proxy.close();
console.log(`close: ${JSON.stringify(closed)}; the in-flight request got ${await inflight}`);
upstream.close();
