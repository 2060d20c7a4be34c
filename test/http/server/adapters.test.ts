import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { byHeader, ServerProtection, type ServerProtectionOptions } from '../../../src/http/server/core.ts';
import type { LoadReading } from '../../../src/http/server/pressure.ts';
import { ManualLimit } from '../../helpers/manual-limit.ts';
import { adapters, get, type Running, type ServerSettings, start, until } from './harness.ts';

const idle: LoadReading = { eventLoopDelayMs: 0, eventLoopUtilization: 0.1, heapUsed: 0.1 };

for (const adapter of adapters) {
  describe(`server protection over ${adapter}`, () => {
    let clock: VirtualClock;
    let load: LoadReading;
    let running: Running | undefined;

    afterEach(async () => {
      await running?.close();
      running = undefined;
      assert.equal(clock.pending, 0, 'a timer was left behind');
    });

    async function serve(
      options: ServerProtectionOptions = {},
      settings: ServerSettings = {},
    ): Promise<Running> {
      clock = new VirtualClock();
      load = idle;
      const protection = new ServerProtection({
        clock,
        limit: 1,
        pressure: { read: () => load },
        classify: byHeader({ priority: 'x-priority', key: 'x-client' }),
        ...options,
      });
      running = await start(adapter, protection, settings);
      return running;
    }

    it('admits requests under the limit, teaches the limit by status, and counts per route', async () => {
      const limit = new ManualLimit(1);
      const { url, protection } = await serve({ limit });
      assert.equal((await get(`${url}/ok`)).status, 200);
      assert.equal((await get(`${url}/status/500`)).status, 500);
      assert.equal((await get(`${url}/status/503`)).status, 503);
      await until(() => protection.limiter.inflight === 0);
      const routes = Object.values(protection.snapshot().routes);
      const sum = (f: (r: (typeof routes)[number]) => number) => routes.reduce((a, r) => a + f(r), 0);
      assert.deepEqual(
        { success: sum((r) => r.success), ignored: sum((r) => r.ignored), dropped: sum((r) => r.dropped) },
        { success: 1, ignored: 1, dropped: 1 },
      );
      assert.equal(
        sum((r) => r.latency.count),
        3,
      );
    });

    it('sheds with 503 and Retry-After when the limit is reached and nothing may queue', async () => {
      const { url, app, protection } = await serve({ queue: false });
      const held = get(`${url}/hold`);
      await until(() => app.holding === 1);
      const shed = await get(`${url}/ok`);
      assert.equal(shed.status, 503);
      assert.match(String(shed.headers['retry-after']), /^[1-9]\d*$/);
      assert.match(shed.body, /concurrency limit reached/);
      app.release();
      assert.equal((await held).status, 200);
      await until(() => protection.limiter.inflight === 0);
    });

    it('admits a critical request from the queue before a sheddable one', async () => {
      const { url, app, protection } = await serve({ queue: { size: 10, timeout: 10_000 } });
      const held = get(`${url}/hold`, { 'x-tag': 'first' });
      await until(() => app.holding === 1);
      const low = get(`${url}/ok`, { 'x-priority': 'sheddable', 'x-tag': 'sheddable' });
      await until(() => protection.limiter.queued === 1);
      const high = get(`${url}/ok`, { 'x-priority': 'critical', 'x-tag': 'critical' });
      await until(() => protection.limiter.queued === 2);
      app.release();
      await Promise.all([held, low, high]);
      assert.deepEqual(app.admitted, ['first', 'critical', 'sheddable']);
    });

    it('counts a request that queued and then got in as admitted, not as a limiter rejection', async () => {
      const { url, app, protection } = await serve({ queue: { size: 10, timeout: 10_000 } });
      const rejections: string[] = [];
      protection.limiter.on('reject', (e) => rejections.push(e.reason));
      const held = get(`${url}/hold`);
      await until(() => app.holding === 1);
      const queued = get(`${url}/ok`);
      await until(() => protection.limiter.queued === 1);
      app.release();
      await Promise.all([held, queued]);
      assert.deepEqual(rejections, []);
    });

    it('refuses a queued request with 503 once its deadline header has passed', async () => {
      const { url, app, protection } = await serve({ queue: { size: 10, timeout: 10_000 } });
      const held = get(`${url}/hold`);
      await until(() => app.holding === 1);
      const late = get(`${url}/ok`, { 'x-request-timeout': '50' });
      await until(() => protection.limiter.queued === 1);
      clock.advance(50);
      const answer = await late;
      assert.equal(answer.status, 503);
      assert.match(answer.body, /deadline/);
      assert.ok(answer.headers['retry-after']);
      app.release();
      await held;
    });

    it('answers 400 to a malformed deadline header and clamps an absurd one', async () => {
      const { url } = await serve();
      for (const bad of ['abc', '-5', '0', '1.5', '10ms', ' ', ['5', '6']]) {
        const answer = await get(`${url}/ok`, { 'x-request-timeout': bad });
        assert.equal(answer.status, 400, `for ${JSON.stringify(bad)}`);
        assert.match(answer.body, /x-request-timeout must be a whole number of milliseconds/);
      }
      assert.equal((await get(`${url}/ok`, { 'x-request-timeout': '9'.repeat(40) })).status, 200);
    });

    it('answers 500, and stays up, when a classifier throws', async () => {
      const { url } = await serve({
        classify: () => {
          throw new Error('bug');
        },
      });
      assert.equal((await get(`${url}/ok`)).status, 500);
      assert.equal((await get(`${url}/health/live`)).status, 200);
    });

    it('answers 400 to an unknown priority', async () => {
      const { url } = await serve();
      const answer = await get(`${url}/ok`, { 'x-priority': 'urgent!!' });
      assert.equal(answer.status, 400);
      assert.match(answer.body, /unknown priority/);
    });

    it('answers 429 to a client over its quota, and serves other clients', async () => {
      const { url, app } = await serve({ limit: 4, maxPerKey: 1 });
      const held = get(`${url}/hold`, { 'x-client': 'a' });
      await until(() => app.holding === 1);
      const over = await get(`${url}/ok`, { 'x-client': 'a' });
      assert.equal(over.status, 429);
      assert.equal(over.headers['retry-after'], '1');
      assert.equal((await get(`${url}/ok`, { 'x-client': 'b' })).status, 200);
      app.release();
      await held;
      assert.equal((await get(`${url}/ok`, { 'x-client': 'a' })).status, 200);
    });

    it('releases the permit when the client aborts, admitted or queued', async () => {
      const { url, app, protection } = await serve({ queue: { size: 10, timeout: 10_000 } });
      const admitted = new AbortController();
      const queued = new AbortController();
      const a = get(`${url}/hold`, {}, admitted.signal).catch(() => 'aborted');
      await until(() => app.holding === 1);
      const q = get(`${url}/ok`, {}, queued.signal).catch(() => 'aborted');
      await until(() => protection.limiter.queued === 1);
      queued.abort();
      assert.equal(await q, 'aborted');
      await until(() => protection.limiter.queued === 0);
      admitted.abort();
      assert.equal(await a, 'aborted');
      await until(() => protection.limiter.inflight === 0);
      app.release(); // the handler answers into a closed socket: no second release
      assert.equal(protection.limiter.inflight, 0);
      assert.equal((await get(`${url}/ok`)).status, 200);
      const routes = Object.values(protection.snapshot().routes);
      assert.equal(
        routes.reduce((n, r) => n + r.disconnected, 0),
        2,
      );
    });

    it('reports liveness always and readiness only while pressure is not critical', async () => {
      const { url, protection } = await serve({ limit: 8 });
      assert.equal((await get(`${url}/health/live`)).status, 200);
      assert.equal((await get(`${url}/health/ready`)).status, 200);
      load = { eventLoopDelayMs: 10, eventLoopUtilization: 0.5, heapUsed: 0.95 };
      protection.samplePressure();
      assert.equal(protection.level, 'critical');
      assert.equal((await get(`${url}/health/live`)).status, 200);
      const ready = await get(`${url}/health/ready`);
      assert.equal(ready.status, 503);
      assert.equal(JSON.parse(ready.body).level, 'critical');
      const shed = await get(`${url}/ok`, { 'x-priority': 'sheddable' });
      assert.equal(shed.status, 503);
      assert.equal(shed.headers['retry-after'], '1');
      assert.equal((await get(`${url}/ok`, { 'x-priority': 'high' })).status, 200);
      load = idle;
      protection.samplePressure();
      assert.equal((await get(`${url}/health/ready`)).status, 200);
    });
    it('drains on shutdown: admitted and queued requests finish, new ones get 503, readiness turns 503', async () => {
      const { url, app, protection, shutdown } = await serve({ queue: { size: 10, timeout: 10_000 } });
      const agent = new http.Agent({ keepAlive: true });
      try {
        const held = get(`${url}/hold`, { 'x-tag': 'held' }, undefined, agent);
        await until(() => app.holding === 1);
        const queued = get(`${url}/ok`, { 'x-tag': 'queued' }, undefined, agent);
        await until(() => protection.limiter.queued === 1);
        const drained = shutdown();
        await until(() => protection.draining);

        const refused = await get(`${url}/ok`, { 'x-tag': 'late' }, undefined, agent);
        assert.equal(refused.status, 503);
        assert.equal(refused.headers.connection, 'close');
        assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/);
        const ready = await get(`${url}/health/ready`);
        assert.equal(ready.status, 503);
        assert.equal(JSON.parse(ready.body).status, 'draining');
        assert.equal((await get(`${url}/health/live`)).status, 200);
        assert.equal(protection.pending, 2);

        app.release();
        const [first, second] = await Promise.all([held, queued]);
        assert.equal(first.status, 200);
        assert.equal(first.headers.connection, 'close', 'kept-alive connections close after the drain');
        assert.equal(second.status, 200);
        assert.deepEqual(await drained, { drained: true, cut: 0 });
        assert.deepEqual(app.admitted, ['held', 'queued']);
        assert.equal(protection.pending, 0);
        assert.equal(protection.close(), protection.close(), 'close() is idempotent');
        assert.deepEqual(await protection.close(), { drained: true, cut: 0 });
        const shed = Object.values(protection.snapshot().routes).reduce((n, r) => n + r.shed, 0);
        assert.equal(shed, 1);
      } finally {
        agent.destroy();
      }
    });

    it('cuts what is still running when the drain times out, refuses what is queued, and counts both', async () => {
      const { url, app, protection, shutdown } = await serve({
        queue: { size: 10, timeout: 10_000 },
        drainTimeout: 5000,
      });
      const held = get(`${url}/hold`).then(
        () => 'answered',
        (error: NodeJS.ErrnoException) => error.code,
      );
      await until(() => app.holding === 1);
      const queued = get(`${url}/ok`, { 'x-tag': 'queued' });
      await until(() => protection.limiter.queued === 1);
      const drained = shutdown();
      await until(() => protection.draining);
      clock.advance(4999);
      assert.equal(protection.pending, 2);
      clock.advance(1);
      assert.deepEqual(await drained, { drained: false, cut: 2 });
      assert.equal(await held, 'ECONNRESET');
      const refused = await queued;
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.connection, 'close');
      assert.ok(refused.headers['retry-after']);
      await until(() => protection.limiter.inflight === 0 && protection.pending === 0);
      app.release(); // the handler answers into a closed connection: nothing is released twice
      assert.equal(protection.limiter.inflight, 0);
      assert.deepEqual(app.admitted, ['/hold']);
    });
  });
}

describe('fastify.close() with the plugin', () => {
  it('drains requests in flight while Fastify, with its defaults, refuses new ones itself', async () => {
    const clock = new VirtualClock();
    const protection = new ServerProtection({ clock, limit: 1, pressure: false });
    const running = await start('fastify', protection, { fastify: { return503OnClosing: true } });
    try {
      const { url, app } = running;
      const held = get(`${url}/hold`);
      await until(() => app.holding === 1);
      const drained = running.shutdown();
      await until(() => protection.draining);
      const refused = await get(`${url}/ok`);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.connection, 'close');
      app.release();
      assert.equal((await held).status, 200);
      assert.deepEqual(await drained, { drained: true, cut: 0 });
      assert.equal(clock.pending, 0);
    } finally {
      await running.close();
    }
  });
});
