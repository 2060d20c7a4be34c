import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import type { ProxyOptions } from '../../src/proxy/config.ts';
import { createProxy, type ReverseProxy } from '../../src/proxy/proxy.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A deferred: lets a test hold an upstream response until it chooses to release it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(handler: Handler): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}` };
}

async function proxy(options: ProxyOptions): Promise<{ proxy: ReverseProxy; url: string; agent: Agent }> {
  const p = createProxy({ port: 0, ...options });
  const address = await p.start();
  const agent = new Agent();
  cleanups.push(() => p.close());
  cleanups.push(() => agent.close());
  return { proxy: p, url: `http://127.0.0.1:${address.port}`, agent };
}

/** Waits (in event-loop turns, not time) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await tick();
  assert.ok(condition(), 'condition not reached');
}

describe('proxy', () => {
  it('proxies a GET and passes end-to-end headers both ways, dropping hop-by-hop ones', async () => {
    let seen: IncomingMessage | undefined;
    const up = await upstream((req, res) => {
      seen = req;
      res.setHeader('x-upstream', 'yes');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('keep-alive', 'timeout=99');
      res.end(`hello ${req.url}`);
    });
    const { url } = await proxy({ upstream: up.url });
    // node:http, since undici will not send a Connection header that lists other headers.
    const req = httpRequest(`${url}/greet?x=1`, {
      agent: false,
      headers: {
        'x-custom': 'abc',
        'x-forwarded-for': '10.0.0.1',
        'x-private': 'p',
        connection: 'x-private',
      },
    });
    req.end();
    const [r] = (await once(req, 'response')) as [IncomingMessage];
    r.setEncoding('utf8');
    let text = '';
    for await (const chunk of r) text += chunk;
    assert.equal(r.statusCode, 200);
    assert.equal(text, 'hello /greet?x=1');
    assert.equal(r.headers['x-upstream'], 'yes');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.notEqual(r.headers['keep-alive'], 'timeout=99');
    assert.equal(seen?.headers['x-custom'], 'abc');
    assert.equal(seen?.headers['x-private'], undefined);
    assert.equal(seen?.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
    assert.equal(seen?.headers.host, url.slice('http://'.length));
  });

  it('streams a POST body to the upstream and the response back without buffering either', async () => {
    const gotFirst = deferred();
    const finish = deferred();
    const up = await upstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.once('data', (chunk: Buffer) => {
        res.write(`echo:${chunk.toString()};`);
        gotFirst.resolve();
      });
      req.on('end', () => {
        void finish.promise.then(() => res.end('done'));
      });
    });
    const { url, agent } = await proxy({ upstream: up.url });
    const body = new PassThrough();
    body.write('first');
    const pending = request(`${url}/upload`, { method: 'POST', body, dispatcher: agent });
    // The upstream sees the first chunk while the client has not finished sending.
    await gotFirst.promise;
    const r = await pending;
    // The response starts before the upstream has finished it.
    const reader = r.body[Symbol.asyncIterator]();
    const first = await reader.next();
    assert.equal(String(first.value), 'echo:first;');
    body.end('second');
    finish.resolve();
    let rest = '';
    for (let next = await reader.next(); next.done !== true; next = await reader.next())
      rest += String(next.value);
    assert.equal(rest, 'done');
  });

  it('sheds with 503 and Retry-After when the limit is saturated', async () => {
    const hold = deferred();
    const up = await upstream((_req, res) => {
      void hold.promise.then(() => res.end('ok'));
    });
    const { proxy: p, url, agent } = await proxy({ upstream: up.url, limit: 1, queue: false });
    const first = request(`${url}/a`, { dispatcher: agent });
    await until(() => p.limiter.inflight === 1);
    const shed = await request(`${url}/b`, { dispatcher: agent });
    assert.equal(shed.statusCode, 503);
    assert.ok(Number(shed.headers['retry-after']) >= 1);
    await shed.body.dump();
    hold.resolve();
    const r = await first;
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'ok');
  });

  it('serves queued requests by the priority of their route', async () => {
    const hold = deferred();
    const order: string[] = [];
    const up = await upstream((req, res) => {
      order.push(req.url!);
      if (req.url === '/first') void hold.promise.then(() => res.end());
      else res.end();
    });
    const {
      proxy: p,
      url,
      agent,
    } = await proxy({
      upstream: up.url,
      limit: 1,
      queue: { size: 10, timeout: 60_000 },
      // Queue expiry on a clock that stands still: on a loaded machine the polling below can outlast the
      // queue's automatic interval (200 ms before any latency is known), which would shed a waiter.
      clock: new VirtualClock(),
      routes: [
        { path: '/health', priority: 'critical' },
        { path: '/reports/**', priority: 'sheddable' },
      ],
    });
    const first = request(`${url}/first`, { dispatcher: agent });
    await until(() => p.limiter.inflight === 1);
    const low = request(`${url}/reports/daily`, { dispatcher: agent });
    await until(() => p.limiter.queued === 1);
    const normal = request(`${url}/other`, { dispatcher: agent });
    await until(() => p.limiter.queued === 2);
    const critical = request(`${url}/health`, { dispatcher: agent });
    await until(() => p.limiter.queued === 3);
    hold.resolve();
    for (const r of await Promise.all([first, low, normal, critical])) {
      assert.equal(r.statusCode, 200);
      await r.body.dump();
    }
    assert.deepEqual(order, ['/first', '/health', '/other', '/reports/daily']);
  });

  it('learns a drop from an upstream 503 or 429', async () => {
    const up = await upstream((req, res) => {
      res.statusCode = req.url === '/busy' ? 503 : req.url === '/quota' ? 429 : 200;
      res.end();
    });
    const { proxy: p, url, agent } = await proxy({ upstream: up.url, limit: 5 });
    const outcomes: string[] = [];
    p.limiter.on('release', (e) => outcomes.push(e.outcome));
    for (const path of ['/busy', '/quota', '/fine']) {
      const r = await request(`${url}${path}`, { dispatcher: agent });
      await r.body.dump();
    }
    await until(() => outcomes.length === 3);
    assert.deepEqual(outcomes, ['dropped', 'dropped', 'success']);
  });

  it('answers 502 quickly when the upstream is down', async () => {
    const down = await upstream(() => {});
    const { url: deadUrl } = down;
    down.server.close();
    await once(down.server, 'close');
    const { url, agent } = await proxy({ upstream: deadUrl });
    const started = Date.now();
    const r = await request(`${url}/x`, { dispatcher: agent });
    assert.equal(r.statusCode, 502);
    assert.match(await r.body.text(), /ECONNREFUSED/);
    assert.ok(Date.now() - started < 2000);
  });

  it('answers 504 when the upstream does not answer within the timeout', async () => {
    const clock = new VirtualClock();
    const up = await upstream(() => {});
    const { proxy: p, url, agent } = await proxy({ upstream: up.url, upstreamTimeout: 500, clock });
    const pending = request(`${url}/slow`, { dispatcher: agent });
    await until(() => p.limiter.inflight === 1);
    clock.advance(500);
    const r = await pending;
    assert.equal(r.statusCode, 504);
    await r.body.dump();
  });

  it('rejects a malformed deadline header with 400', async () => {
    const up = await upstream((_req, res) => res.end());
    const { url, agent } = await proxy({ upstream: up.url });
    const r = await request(`${url}/x`, { dispatcher: agent, headers: { 'x-request-timeout': 'soon' } });
    assert.equal(r.statusCode, 400);
    await r.body.dump();
  });

  it('passes the remaining deadline budget on to the upstream', async () => {
    let budget: string | undefined;
    const up = await upstream((req, res) => {
      budget = req.headers['x-request-timeout'] as string;
      res.end();
    });
    const { url, agent } = await proxy({ upstream: up.url, clock: new VirtualClock() });
    const r = await request(`${url}/x`, { dispatcher: agent, headers: { 'x-request-timeout': '250' } });
    await r.body.dump();
    assert.equal(budget, '250');
  });

  it('drains on close: the in-flight request completes and new connections are refused', async () => {
    const hold = deferred();
    const up = await upstream((_req, res) => {
      res.write('partial;');
      void hold.promise.then(() => res.end('end'));
    });
    const { proxy: p, url, agent } = await proxy({ upstream: up.url });
    const r = await request(`${url}/long`, { dispatcher: agent });
    const closing = p.close();
    const port = Number(new URL(url).port);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    hold.resolve();
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'partial;end');
    assert.deepEqual(await closing, { drained: true });
  });

  it('cuts requests still in flight when the drain timeout passes', async () => {
    const clock = new VirtualClock();
    const up = await upstream(() => {});
    const { proxy: p, url, agent } = await proxy({ upstream: up.url, clock, drainTimeout: 1000 });
    const pending = request(`${url}/stuck`, { dispatcher: agent }).then(
      () => 'answered',
      () => 'cut',
    );
    await until(() => p.active === 1);
    const closing = p.close();
    clock.advance(999);
    await tick();
    assert.equal(p.active, 1);
    clock.advance(1);
    assert.deepEqual(await closing, { drained: false });
    assert.equal(await pending, 'cut');
    assert.equal(p.limiter.inflight, 0);
  });

  it('reloads routes for new requests without dropping one in flight or the limiter', async () => {
    const hold = deferred();
    const up = await upstream((req, res) => {
      if (req.url === '/long') void hold.promise.then(() => res.end('long'));
      else res.end('short');
    });
    const { proxy: p, url, agent } = await proxy({ upstream: up.url, limit: 4 });
    const limiter = p.limiter;
    const long = request(`${url}/long`, { dispatcher: agent });
    await until(() => p.limiter.inflight === 1);
    assert.equal(p.settings.routes.level('GET', '/admin/x'), 2);
    const restart = p.reload({
      upstream: up.url,
      port: 0,
      limit: 4,
      routes: [{ path: '/admin', priority: 'critical' }],
    });
    assert.deepEqual(restart, []);
    assert.equal(p.settings.routes.level('GET', '/admin/x'), 0);
    assert.equal(p.limiter, limiter);
    const short = await request(`${url}/admin/x`, { dispatcher: agent });
    assert.equal(await short.body.text(), 'short');
    hold.resolve();
    const r = await long;
    assert.equal(await r.body.text(), 'long');
  });

  it('keeps the running settings when a reload is invalid, and names what needs a restart', async () => {
    const up = await upstream((_req, res) => res.end());
    const { proxy: p } = await proxy({ upstream: up.url, limit: 4 });
    assert.throws(() => p.reload({ upstream: up.url, routes: [{ path: 'x', priority: 'high' }] }), {
      option: 'routes[0].path',
    });
    assert.equal(p.settings.limit, 4);
    assert.deepEqual(p.reload({ upstream: up.url, port: 0, limit: 8 }), ['limit']);
  });

  it('sends new requests to a new upstream after a reload, finishing those on the old one', async () => {
    const hold = deferred();
    const a = await upstream((_req, res) => {
      void hold.promise.then(() => res.end('from a'));
    });
    const b = await upstream((_req, res) => res.end('from b'));
    const { proxy: p, url, agent } = await proxy({ upstream: a.url });
    const onA = request(`${url}/x`, { dispatcher: agent });
    await until(() => p.limiter.inflight === 1);
    p.reload({ upstream: b.url, port: 0 });
    const onB = await request(`${url}/y`, { dispatcher: agent });
    assert.equal(await onB.body.text(), 'from b');
    hold.resolve();
    assert.equal(await (await onA).body.text(), 'from a');
  });
});
