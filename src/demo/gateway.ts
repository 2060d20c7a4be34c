import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Clock } from '../core/clock.ts';
import { createFetch } from '../http/fetch.ts';
import type { ServerProtection } from '../http/server/core.ts';
import { protect } from '../http/server/node.ts';
import type { Limit } from '../limits/limit.ts';
import { type Breaker, isCircuitOpenError } from '../policies/breaker.ts';
import { isTimeoutError } from '../policies/timeout.ts';

/**
 * The demo's two gateways, node:http servers on 127.0.0.1 that forward every request to the downstream
 * with `fetch` over the same kind of keep-alive connection pool, and relay its answer. They differ only in
 * sluice:
 *
 * - `plain`: forwards everything, as a gateway without protection does.
 * - `sluice`: `protect()` admits each request through an adaptive concurrency limit (the caller's, see
 *   `SluiceGatewayOptions.limit`) with a short deadline-aware queue, and refuses the excess at once with
 *   503 and Retry-After; the call to the
 *   downstream goes through sluice's guarded `fetch` (a circuit breaker, retries within a budget, the
 *   client's deadline as the timeout of each attempt).
 *
 * The adaptive limit sits in `protect()` rather than in the guarded fetch: the gateway does nothing but
 * this one call, so both would measure the same latency, and refusing at the door answers the client before
 * any work is spent on it. The fetch keeps the parts a front door cannot have: it sees each downstream
 * answer, so its breaker can fail fast while the downstream is failing, and it passes the deadline on.
 *
 * Both gateways abandon the downstream call when their client goes away (the downstream does not notice).
 */
export interface Gateway {
  readonly url: string;
  /** The sluice gateway's protection (its `limiter` holds the adaptive limit). */
  readonly protection: ServerProtection | undefined;
  /** The sluice gateway's breaker in front of the downstream. */
  readonly breaker: Breaker | undefined;
  close(): Promise<void>;
}

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** A `fetch` over its own keep-alive pool, so that closing the gateway closes its connections. */
function pooledFetch(): { readonly fetch: Fetch; readonly agent: Agent } {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const fetch = ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent })) as unknown as Fetch;
  return { fetch, agent };
}

/** Relays a downstream answer; the marks that tell the downstream's refusals apart travel with it. */
async function relay(res: ServerResponse, response: Response): Promise<void> {
  const body = await response.text();
  if (res.destroyed) return;
  const headers: Record<string, string> = { 'content-type': 'text/plain' };
  for (const name of ['x-downstream', 'retry-after']) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  res.writeHead(response.status, headers);
  res.end(body);
}

function answer(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

/** Aborts when the client goes away before its response is finished. */
function clientGone(res: ServerResponse): AbortSignal {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client went away'));
  });
  return abort.signal;
}

async function listen(server: Server): Promise<string> {
  // Clients keep their connections between bursts; see the downstream's keepAliveTimeout.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server, agent: Agent, before?: () => void): () => Promise<void> {
  return async () => {
    before?.();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await agent.destroy();
  };
}

/** A gateway without protection: every request is forwarded at once. */
export async function startPlainGateway(downstream: string): Promise<Gateway> {
  const { fetch, agent } = pooledFetch();
  const server = createServer((req, res) => {
    req.resume();
    const signal = clientGone(res);
    fetch(downstream + (req.url ?? '/'), { signal })
      .then((response) => relay(res, response))
      .catch(() => answer(res, 502, 'bad gateway'));
  });
  return {
    url: await listen(server),
    protection: undefined,
    breaker: undefined,
    close: closer(server, agent),
  };
}

export interface SluiceGatewayOptions {
  readonly clock: Clock;
  /** Names the gateway's limiter and the downstream's breaker, for events and the dashboard. */
  readonly name: string;
  /** The gateway's limit algorithm. Default protect()'s own default. */
  readonly limit?: Limit;
}

/** The sluice gateway: `protect()` at the door, the guarded `fetch` towards the downstream. */
export async function startSluiceGateway(
  downstream: string,
  options: SluiceGatewayOptions,
): Promise<Gateway> {
  const { clock, name } = options;
  const pooled = pooledFetch();
  // Untuned, as a newcomer would start: the defaults but for the limiter, which protect() holds.
  const guarded = createFetch({
    fetch: pooled.fetch,
    clock,
    perOrigin: () => ({ name: `${name}.downstream`, limiter: false }),
  });
  const breaker = guarded.guardOf(downstream).breaker;
  const arrivedAt = new WeakMap<IncomingMessage, number>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    // protect() has checked the header: digits, or absent. The deadline runs from arrival, queueing included.
    const header = req.headers['x-request-timeout'];
    const arrived = arrivedAt.get(req) ?? clock.now();
    const deadline = typeof header === 'string' ? arrived + Number(header) : undefined;
    guarded(downstream + (req.url ?? '/'), {
      signal: clientGone(res),
      ...(deadline === undefined ? {} : { sluice: { deadline } }),
    })
      .then((response) => relay(res, response))
      .catch((error: unknown) => {
        if (isCircuitOpenError(error)) {
          const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
          answer(res, 503, 'circuit open', { 'retry-after': String(seconds) });
        } else if (isTimeoutError(error)) {
          answer(res, 504, 'gateway timeout');
        } else {
          answer(res, 502, 'bad gateway');
        }
      });
  };
  const listener = protect(forward, {
    name,
    clock,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
  const server = createServer((req, res) => {
    arrivedAt.set(req, clock.now());
    listener(req, res);
  });
  return {
    url: await listen(server),
    protection: listener.protection,
    breaker,
    close: closer(server, pooled.agent, () => listener.protection.close()),
  };
}
