import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../../src/core/virtual-clock.ts';
import {
  isActuatorError,
  isActuatorTimeoutError,
  isWebhookError,
  type WebhookError,
} from '../../../src/scale/actuators/errors.ts';
import { webhookActuator } from '../../../src/scale/actuators/webhook.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

const seen: Seen[] = [];
const open: ServerResponse[] = [];
let handler: Handler = (_, res) => res.writeHead(204).end();
const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    body += chunk;
  });
  req.on('end', () => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    seen.push(entry);
    open.push(res);
    handler(entry, res);
  });
});
let base = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  seen.length = 0;
  handler = (_, res) => res.writeHead(204).end();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('webhookActuator', () => {
  it('POSTs the count as JSON with the given headers, and reports it once accepted', async () => {
    const actuator = webhookActuator({
      url: `${base}/services/web/replicas`,
      headers: { authorization: 'Bearer s3cret' },
      replicas: 3,
    });
    assert.deepEqual(await actuator.capacity(), { desired: 3, ready: 3 });
    await actuator.scale(5);
    assert.equal(seen.length, 1);
    const [call] = seen;
    assert.equal(call!.method, 'POST');
    assert.equal(call!.url, '/services/web/replicas');
    assert.equal(call!.headers['content-type'], 'application/json');
    assert.equal(call!.headers.authorization, 'Bearer s3cret');
    assert.deepEqual(JSON.parse(call!.body), {
      replicas: 5,
      previous: 3,
      actuator: `webhook:${new URL(base).host}`,
    });
    assert.deepEqual(await actuator.capacity(), { desired: 5, ready: 5 });
  });

  it('uses the method asked for', async () => {
    const actuator = webhookActuator({ url: `${base}/scale`, method: 'PUT', replicas: 1 });
    await actuator.scale(2);
    assert.equal(seen[0]!.method, 'PUT');
  });

  it('turns an answer outside 2xx into a WebhookError, hides the query, and keeps the old count', async () => {
    handler = (_, res) => res.writeHead(409, { 'content-type': 'text/plain' }).end('rollout in progress\n');
    const actuator = webhookActuator({ url: `${base}/scale?token=s3cret`, replicas: 2 });
    const error = (await rejection(actuator.scale(4))) as WebhookError;
    assert.ok(isWebhookError(error), String(error));
    assert.equal(error.status, 409);
    assert.equal(error.method, 'POST');
    assert.equal(error.url, `${base}/scale`);
    assert.equal(error.body, 'rollout in progress\n');
    assert.match(error.message, /POST http:\/\/127\.0\.0\.1:\d+\/scale answered 409: rollout in progress$/);
    assert.doesNotMatch(error.message, /s3cret/);
    assert.deepEqual(await actuator.capacity(), { desired: 2, ready: 2 });
  });

  it('reads capacity from capacityUrl', async () => {
    handler = (req, res) => {
      if (req.method === 'GET')
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"desired":6,"ready":4}');
      else res.writeHead(202).end();
    };
    const actuator = webhookActuator({ url: `${base}/scale`, capacityUrl: `${base}/capacity` });
    assert.deepEqual(await actuator.capacity(), { desired: 6, ready: 4 });
    assert.equal(seen[0]!.method, 'GET');
    assert.equal(seen[0]!.url, '/capacity');
    assert.equal(seen[0]!.headers.accept, 'application/json');
    await actuator.scale(8);
    assert.deepEqual(JSON.parse(seen[1]!.body), {
      replicas: 8,
      previous: 6,
      actuator: `webhook:${new URL(base).host}`,
    });
  });

  it('reads "replicas" as desired and ready as desired when absent', async () => {
    handler = (_, res) => res.writeHead(200).end('{"replicas":3}');
    const actuator = webhookActuator({ url: `${base}/scale`, capacityUrl: `${base}/capacity` });
    assert.deepEqual(await actuator.capacity(), { desired: 3, ready: 3 });
  });

  it('says what was wrong with a capacity answer it cannot read', async () => {
    handler = (_, res) => res.writeHead(200).end('<html>login</html>');
    const actuator = webhookActuator({ url: `${base}/scale`, capacityUrl: `${base}/capacity` });
    const error = await rejection(actuator.capacity());
    assert.ok(isActuatorError(error));
    assert.equal((error as { operation: string }).operation, 'capacity');
    assert.match(
      (error as Error).message,
      /GET http:\/\/.*\/capacity answered .*login.*expected \{ desired, ready \}/,
    );
  });

  it('cancels a call that runs past timeoutMs', async () => {
    handler = () => {};
    const clock = new VirtualClock();
    const actuator = webhookActuator({ url: `${base}/scale`, replicas: 1, timeoutMs: 3000, clock });
    const pending = rejection(actuator.scale(2));
    while (seen.length === 0) await flushMicrotasks();
    const res = open.at(-1)!;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    clock.advance(3000);
    const error = await pending;
    assert.ok(isActuatorTimeoutError(error), String(error));
    assert.match((error as Error).message, /POST http:\/\/.*\/scale timed out after 3000 ms/);
    while (!closed) await flushMicrotasks();
    assert.equal(clock.pending, 0);
    assert.deepEqual(await actuator.capacity(), { desired: 1, ready: 1 });
  });

  it('rejects with the caller reason when the caller aborts', async () => {
    handler = () => {};
    const actuator = webhookActuator({ url: `${base}/scale`, replicas: 1 });
    const controller = new AbortController();
    const pending = rejection(actuator.scale(2, controller.signal));
    while (seen.length === 0) await flushMicrotasks();
    const reason = new Error('tick deadline');
    controller.abort(reason);
    assert.equal(await pending, reason);
  });

  it('says why when the server cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const actuator = webhookActuator({ url: `http://127.0.0.1:${port}/scale`, replicas: 1 });
    const error = await rejection(actuator.scale(2));
    assert.ok(isActuatorError(error));
    assert.match(
      (error as Error).message,
      /POST http:\/\/127\.0\.0\.1:\d+\/scale failed: fetch failed \(.*ECONNREFUSED/,
    );
  });

  it('rejects invalid options naming the option', () => {
    const bad: [unknown, string][] = [
      [{ url: 'ftp://x/scale', replicas: 1 }, 'url'],
      [{ url: 'not a url', replicas: 1 }, 'url'],
      [{ url: 'http://x/scale', method: 'GET', replicas: 1 }, 'method'],
      [{ url: 'http://x/scale' }, 'replicas'],
      [{ url: 'http://x/scale', capacityUrl: 'x', replicas: 1 }, 'capacityUrl'],
      [{ url: 'http://x/scale', replicas: 1, headers: { a: 1 } }, 'headers'],
      [{ url: 'http://x/scale', replicas: 1, timeoutMs: -1 }, 'timeoutMs'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => webhookActuator(options as never),
        (e) => isConfigError(e) && e.option === option,
        `${JSON.stringify(options)} names ${option}`,
      );
    }
  });
});
