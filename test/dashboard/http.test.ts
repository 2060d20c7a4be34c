import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import Fastify from 'fastify';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createDashboard, type DashboardState } from '../../src/dashboard/index.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { createBreaker } from '../../src/policies/breaker.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A GET with any headers (Host included, which fetch does not let a caller set). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Message {
  readonly event?: string;
  readonly data?: string;
  readonly comment?: string;
  readonly retry?: string;
}

/** A server-sent events client that keeps every message, parsed by the framing rules. */
async function listen(url: string) {
  const req = request(url, { headers: { accept: 'text/event-stream' } });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let buffer = '';
  const messages: Message[] = [];
  let ended = false;
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const m: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        const field = colon === 0 ? 'comment' : line.slice(0, colon);
        assert.ok(!(field in m), `one ${field} line per message: ${JSON.stringify(block)}`);
        m[field] = line.slice(colon + 1).trimStart();
      }
      messages.push(m);
    }
  });
  res.on('end', () => {
    ended = true;
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    messages,
    ended: () => ended,
    /** Resolves with the first message from index `from` on that matches. */
    async next(match: (m: Message) => boolean, from = 0): Promise<Message> {
      for (let i = 0; i < 400; i++) {
        const found = messages.slice(from).find(match);
        if (found !== undefined) return found;
        await delay(5);
      }
      assert.fail(`no such message among ${JSON.stringify(messages)}`);
    },
    close: () => req.destroy(),
  };
}

const isEvent = (name: string) => (m: Message) => m.event === name;

describe('dashboard.listen', () => {
  it('binds 127.0.0.1 on a free port by default and serves one self-contained page', async () => {
    const dashboard = createDashboard({ title: 'orders <api>' });
    const { url, host, port } = await dashboard.listen();
    assert.equal(host, '127.0.0.1');
    assert.equal(url, `http://127.0.0.1:${port}/`);
    const res = await get(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(res.body, /<title>orders &lt;api&gt;<\/title>/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(String(res.headers['content-security-policy']))?.[1];
    assert.ok(nonce);
    assert.ok(res.body.includes(`<script nonce="${nonce}">`));
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
    // Nothing from elsewhere: no scripts, styles, fonts or images by URL.
    assert.doesNotMatch(res.body, /https?:\/\//);
    assert.doesNotMatch(res.body, /\s(src|href)="(?!data:)/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    await dashboard.close();
  });

  it('serves the series and the feed as JSON at state', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock, title: 'checkout' });
    dashboard.track(createLimiter({ name: 'api', clock, limit: new ManualLimit(3) }));
    clock.advance(1000);
    const { url } = await dashboard.listen();
    const res = await get(`${url}state`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    const state = JSON.parse(res.body) as DashboardState;
    assert.equal(state.title, 'checkout');
    assert.deepEqual(state.times, [1000]);
    assert.deepEqual(state.groups[0]!.charts[0]!.lines[0], { id: 'l0', label: 'limit', values: [3] });
    await dashboard.close();
  });

  it('refuses to bind anything but loopback without a token', async () => {
    const dashboard = createDashboard();
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'example.com']) {
      await assert.rejects(dashboard.listen({ host }), (e) => isConfigError(e) && e.option === 'host', host);
    }
    await assert.rejects(
      dashboard.listen({ token: 'short' }),
      (e) => isConfigError(e) && e.option === 'token',
    );
    await assert.rejects(dashboard.listen({ port: 70000 }), isConfigError);
    const { host } = await dashboard.listen({ host: '::1' }).catch(() => ({ host: 'no IPv6 here' }));
    assert.ok(host === '::1' || host === 'no IPv6 here');
    await dashboard.close();
  });

  it('with a token, needs it on every request: as a Bearer header, or ?token= for the page and its stream', async () => {
    const token = 'aa0b1c2d3e4f5a6b7c8d9e0f';
    const dashboard = createDashboard();
    const { url, port } = await dashboard.listen({ token });
    assert.equal(url, `http://127.0.0.1:${port}/?token=${token}`);
    const base = `http://127.0.0.1:${port}/`;
    for (const path of ['', 'state', 'events']) {
      const none = await get(base + path);
      assert.equal(none.status, 401, path);
      assert.match(String(none.headers['www-authenticate']), /^Bearer /);
      assert.equal((await get(`${base}${path}?token=${token}x`)).status, 401);
      assert.equal((await get(base + path, { authorization: `Bearer ${token.slice(1)}` })).status, 401);
    }
    assert.equal((await get(base, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await get(`${base}state?token=${token}`)).status, 200);
    const stream = await listen(`${base}events?token=${token}`);
    assert.equal(stream.status, 200);
    stream.close();
    await dashboard.close();
  });

  it('without a token, answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    const dashboard = createDashboard();
    const { url, port } = await dashboard.listen();
    assert.equal((await get(url, { host: `attacker.example:${port}` })).status, 403);
    assert.equal((await get(url, { host: `localhost:${port}` })).status, 200);
    assert.equal((await get(url, { host: `[::1]:${port}` })).status, 200);
    await dashboard.close();
  });

  it('answers 405 to anything but GET and HEAD', async () => {
    const dashboard = createDashboard();
    const { url } = await dashboard.listen();
    const res = await get(url, {}, 'POST');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.equal((await get(`${url}state`, {}, 'HEAD')).status, 200);
    await dashboard.close();
  });

  it('stops listening when its address is closed', async () => {
    const dashboard = createDashboard();
    const address = await dashboard.listen();
    await address.close();
    await assert.rejects(get(address.url));
    await dashboard.close();
  });
});

describe('the event stream', () => {
  it('sends the state first, then a sample per sampleEvery, feed items as they happen, and heartbeats', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock, heartbeat: 15_000 });
    const limiter = createLimiter({ name: 'api', clock, limit: new ManualLimit(5) });
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 1 });
    dashboard.track(limiter);
    dashboard.track(breaker);
    clock.advance(1000);
    const { url } = await dashboard.listen();
    const stream = await listen(`${url}events`);
    assert.equal(stream.status, 200);
    assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers['cache-control'], 'no-store');
    const first = await stream.next(() => true);
    assert.deepEqual(first, { retry: '2000' });
    const state = JSON.parse((await stream.next(isEvent('state'))).data!) as DashboardState;
    assert.deepEqual(state.times, [1000]);

    limiter.tryAcquire();
    clock.advance(1000);
    const sample = JSON.parse((await stream.next(isEvent('sample'))).data!);
    assert.equal(sample.t, 2000);
    assert.equal(sample.values.l0, 5); // the limit
    assert.equal(sample.values.l1, 1); // in flight

    await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    const item = JSON.parse((await stream.next(isEvent('feed'))).data!);
    assert.equal(item.kind, 'breaker');
    assert.match(item.text, /^closed → open: 1 failures in a row/);

    clock.advance(15_000);
    await stream.next((m) => m.comment === 'heartbeat');

    // A component tracked meanwhile: the next message is the whole state again, with its lines.
    const seen = stream.messages.length;
    dashboard.track(createLimiter({ name: 'db', clock }));
    clock.advance(1000);
    const next = await stream.next((m) => m.event !== undefined, seen);
    assert.equal(next.event, 'state');
    assert.deepEqual(
      (JSON.parse(next.data!) as DashboardState).groups.map((g) => g.name),
      ['api', 'db', 'db'],
    );
    stream.close();
    await dashboard.close();
  });

  it('serves at most maxClients at once, and forgets a client as soon as it disconnects', async () => {
    const dashboard = createDashboard({ maxClients: 1 });
    const { url } = await dashboard.listen();
    const a = await listen(`${url}events`);
    await a.next(isEvent('state'));
    const refused = await get(`${url}events`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '5');
    a.close();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await delay(10);
      const c = await listen(`${url}events`);
      status = c.status!;
      c.close();
    }
    assert.equal(status, 200);
    await dashboard.close();
  });

  it('ends every live stream on close', async () => {
    const dashboard = createDashboard();
    const { url } = await dashboard.listen();
    const stream = await listen(`${url}events`);
    await stream.next(isEvent('state'));
    await dashboard.close();
    for (let i = 0; i < 100 && !stream.ended(); i++) await delay(5);
    assert.ok(stream.ended());
  });
});

describe('dashboard.handler', () => {
  it('works mounted under a prefix in Express', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    dashboard.track(createLimiter({ name: 'api', clock }));
    const app = express();
    app.use('/ops/dashboard', dashboard.handler);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops/dashboard`;
    const page = await get(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<!doctype html>/);
    const state = JSON.parse((await get(`${base}/state`)).body) as DashboardState;
    assert.equal(state.groups[0]!.name, 'api');
    const stream = await listen(`${base}/events`);
    await stream.next(isEvent('state'));
    stream.close();
    await dashboard.close();
    server.closeAllConnections();
    server.close();
  });

  it('works mounted under a prefix in Fastify, with the reply hijacked', async () => {
    const dashboard = createDashboard();
    const app = Fastify();
    app.get('/ops/dashboard/*', (req, reply) => {
      reply.hijack();
      dashboard.handler(req.raw, reply.raw);
    });
    const base = `${await app.listen({ port: 0, host: '127.0.0.1' })}/ops/dashboard/`;
    assert.match((await get(base)).body, /<!doctype html>/);
    assert.equal(JSON.parse((await get(`${base}state`)).body).title, 'sluice');
    const stream = await listen(`${base}events`);
    await stream.next(isEvent('state'));
    stream.close();
    await dashboard.close();
    await app.close();
  });

  it('works under a prefix in a plain node:http server, routing by the last path segment', async () => {
    const dashboard = createDashboard();
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/sluice/')) dashboard.handler(req, res);
      else res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sluice/`;
    assert.equal((await get(base)).status, 200);
    assert.equal(JSON.parse((await get(`${base}state?x=1`)).body).title, 'sluice');
    await dashboard.close();
    server.close();
  });
});
