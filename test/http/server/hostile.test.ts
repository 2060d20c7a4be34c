import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { ServerProtection } from '../../../src/http/server/core.ts';
import { protect } from '../../../src/http/server/node.ts';
import { until } from './harness.ts';

/** A node:http server with tight timeouts (real time: Node enforces them on its own clock). */
async function tightServer() {
  const protection = new ServerProtection({ clock: new VirtualClock(), limit: 4, pressure: false });
  const listener = protect((req, res) => {
    req.resume();
    req.on('end', () => res.end('read'));
  }, protection);
  const server = http.createServer(
    { headersTimeout: 200, requestTimeout: 300, connectionsCheckingInterval: 25 },
    listener,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { server, port, protection };
}

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

describe('server protection against hostile clients (node:http)', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  function track(server: http.Server, protection: ServerProtection): void {
    cleanup = async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      protection.close();
    };
  }

  it('answers 431 to a huge header without taking a permit', async () => {
    const { server, port, protection } = await tightServer();
    track(server, protection);
    const socket = await raw(port);
    const reply = closed(socket);
    socket.write(`GET /ok HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    assert.match(await reply, /^HTTP\/1\.1 431/);
    assert.equal(protection.limiter.inflight, 0);
    assert.deepEqual(protection.snapshot().routes, {});
  });

  it('cuts off a header trickle before it is admitted', async () => {
    const { server, port, protection } = await tightServer();
    track(server, protection);
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
  });

  it('releases the permit of a request whose body trickles past the request timeout', async () => {
    const { server, port, protection } = await tightServer();
    track(server, protection);
    const socket = await raw(port);
    const reply = closed(socket);
    socket.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n');
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
  });
});
