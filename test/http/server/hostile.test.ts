import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { ServerProtection } from '../../../src/http/server/core.ts';
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
