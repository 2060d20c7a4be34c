import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { ServerProtection, type ServerProtectionOptions } from '../../../src/http/server/core.ts';
import { adapters, type Running, start, until } from './harness.ts';

function raw(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  return once(socket, 'connect').then(() => socket);
}

/** Resolves with what the server wrote before it closed the socket. */
function closed(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  return new Promise((resolve) => socket.on('close', () => resolve(text)));
}

for (const adapter of adapters) {
  describe(`server protection against hostile clients (${adapter})`, () => {
    let running: Running | undefined;
    afterEach(async () => {
      await running?.close();
      running = undefined;
    });

    /** Tight timeouts (real time: Node enforces them on its own clock); Fastify's own default is none. */
    async function tightServer(): Promise<Running> {
      const protection = new ServerProtection({ clock: new VirtualClock(), limit: 4, pressure: false });
      running = await start(adapter, protection, {
        http: { headersTimeout: 200, requestTimeout: 300, connectionsCheckingInterval: 25 },
        fastify: { requestTimeout: 300 },
      });
      return running;
    }

    it('answers 431 to a huge header without taking a permit', async () => {
      const { port, protection } = await tightServer();
      const socket = await raw(port);
      const reply = closed(socket);
      socket.write(`GET /ok HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
      assert.match(await reply, /^HTTP\/1\.1 431/);
      assert.equal(protection.limiter.inflight, 0);
      assert.deepEqual(protection.snapshot().routes, {});
    });

    it('cuts off a header trickle before it is admitted', async () => {
      const { port, protection } = await tightServer();
      const socket = await raw(port);
      const reply = closed(socket);
      socket.write('GET /ok HTTP/1.1\r\nhost: x\r\n');
      const drip = setInterval(() => socket.write('x-drip: 1\r\n'), 20);
      try {
        assert.match(await reply, /^HTTP\/1\.1 408|^$/);
      } finally {
        clearInterval(drip);
      }
      assert.equal(protection.limiter.inflight, 0);
      assert.deepEqual(protection.snapshot().routes, {});
    });

    it('releases the permit of a request whose body trickles past the request timeout', async () => {
      const { port, protection } = await tightServer();
      const socket = await raw(port);
      const reply = closed(socket);
      socket.write(
        'POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n',
      );
      await until(() => protection.limiter.inflight === 1);
      const drip = setInterval(() => socket.write('a'), 20);
      try {
        await reply;
      } finally {
        clearInterval(drip);
      }
      await until(() => protection.limiter.inflight === 0);
      const [route] = Object.values(protection.snapshot().routes);
      assert.equal(route?.disconnected, 1);
      assert.equal(route?.inflight, 0);
      assert.equal(protection.pending, 0);
    });

    /** A server without request timeouts, and a raw connection that has sent a body's headers, admitted. */
    async function trickling(options: ServerProtectionOptions) {
      const clock = new VirtualClock();
      const protection = new ServerProtection({ clock, limit: 4, pressure: false, ...options });
      running = await start(adapter, protection, {
        http: { requestTimeout: 0 },
        fastify: { requestTimeout: 0 },
      });
      const accepted = once(running.server, 'connection') as Promise<[Socket]>;
      const socket = await raw(running.port);
      const [server] = await accepted;
      const reply = closed(socket);
      socket.write(
        'POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n',
      );
      await until(() => protection.limiter.inflight === 1);
      /** Sends `n` bytes of the body and waits until the server has read them. */
      const send = async (n: number): Promise<void> => {
        const read = server.bytesRead + n;
        socket.write('a'.repeat(n));
        await until(() => server.bytesRead >= read);
      };
      return { clock, protection, server, reply, send };
    }

    it('cuts off a body that falls behind the minimum rate, even without a server timeout', async () => {
      const { clock, protection, server, reply, send } = await trickling({
        slowBody: { timeout: 2000, minRate: 100 },
      });
      clock.advance(1000); // the first check: the body is still arriving
      await send(100); // earns a second at 100 bytes/s: cut 2 s + 1 s after the first check
      clock.advance(1000);
      clock.advance(1000);
      assert.equal(server.writableEnded, false);
      clock.advance(1000);
      assert.equal(server.writableEnded, true);
      assert.match(await reply, /^HTTP\/1\.1 408/);
      await until(() => protection.limiter.inflight === 0);
      const [route] = Object.values(protection.snapshot().routes);
      assert.equal(route?.slowBody, 1);
      assert.equal(route?.disconnected, 0);
      assert.equal(route?.inflight, 0);
      assert.equal(protection.pending, 0);
    });

    it('lets a body that keeps the minimum rate arrive in full', async () => {
      const { clock, protection, reply, send } = await trickling({
        slowBody: { timeout: 1000, minRate: 100 },
      });
      clock.advance(1000);
      for (let sent = 0; sent < 900; sent += 100) {
        await send(100);
        clock.advance(1000);
      }
      await send(100);
      await until(() => protection.limiter.inflight === 0);
      const [route] = Object.values(protection.snapshot().routes);
      assert.equal(route?.success, 1);
      assert.equal(route?.slowBody, 0);
      await running!.close();
      assert.match(await reply, /^HTTP\/1\.1 200/);
    });

    it('by default cuts a stalled body 20 s after first finding it arriving; slowBody: false never', async () => {
      const cut = await trickling({});
      cut.clock.advance(1000);
      cut.clock.advance(19_999);
      assert.equal(cut.server.writableEnded, false);
      cut.clock.advance(1);
      assert.equal(cut.server.writableEnded, true);
      await cut.reply;
      await running!.close();
      const kept = await trickling({ slowBody: false });
      kept.clock.advance(600_000);
      assert.equal(kept.server.writableEnded, false);
      assert.equal(kept.protection.limiter.inflight, 1);
    });

    it('answers a request line it cannot parse with 400, without a permit', async () => {
      const { port, protection } = await tightServer();
      const socket = await raw(port);
      const reply = closed(socket);
      socket.write('GET /ok HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n');
      assert.match(await reply, /^HTTP\/1\.1 400/);
      assert.equal(protection.limiter.inflight, 0);
      assert.deepEqual(protection.snapshot().routes, {});
    });
  });
}
