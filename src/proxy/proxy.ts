import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError, isRejectedError } from '../core/errors.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { Limiter, LimiterOptions, Outcome, Permit } from '../limiter/types.ts';
import { type ProxyOptions, type ProxySettings, resolveProxyOptions } from './config.ts';

/**
 * An adaptive reverse proxy: a node:http server in front of one upstream origin, admitting requests
 * through a sluice limiter.
 *
 * - Each request takes the priority of its route (first match in `routes`) and, when the client sends
 *   one, a deadline (`deadlineHeader`, milliseconds of budget). It waits in the limiter's queue or is
 *   shed with 503 and `Retry-After` (whole seconds, at least 1, from the rejection's `retryAfterMs`).
 * - Bodies stream both ways with backpressure; nothing is buffered. Connections to the upstream are
 *   pooled and kept alive (undici `Pool`).
 * - Hop-by-hop headers (RFC 9110 §7.6.1, and those the `Connection` header lists) are dropped both ways;
 *   everything else, `Host` included, passes through. `X-Forwarded-For` gets the client's address
 *   appended; `X-Forwarded-Proto` and `X-Forwarded-Host` are set when absent.
 * - What the limiter learns: the latency to the upstream's response headers (the upstream's own service
 *   time, not the time a slow client takes to read the body), recorded when the body has been relayed;
 *   an upstream 429, 503 or 504, a timeout or a refused connection is a drop; a client that goes away
 *   first records nothing.
 * - Errors: the upstream unreachable answers 502, a timeout 504, a malformed deadline 400.
 */
export interface ReverseProxy {
  /** The node:http server (listening after `start()`). */
  readonly server: Server;
  /** The limiter admitting requests; it survives reloads, so a learned limit is kept. */
  readonly limiter: Limiter;
  /** Settings in force for new requests. */
  readonly settings: ProxySettings;
  /** Requests being handled (queued or forwarded). */
  readonly active: number;
  /** Bound address, once started. */
  readonly address: AddressInfo | undefined;
  /** Starts listening on `settings.host` and `settings.port`; resolves with the bound address. */
  start(): Promise<AddressInfo>;
  /**
   * Applies new options to requests that arrive from now on; requests in flight finish under the old
   * ones. Routes, priorities of routes, timeouts, the deadline header, the upstream and its connection
   * count change; the listen address, the limit and the queue need a restart, and their names are
   * returned when they differ. Changing the priority levels throws a `ConfigError`, and so does any
   * invalid option: the running settings then stay as they were.
   */
  reload(options: ProxyOptions): readonly string[];
  /**
   * Graceful shutdown: stops accepting connections, closes idle ones, lets in-flight requests finish for
   * up to `drainTimeout` and then cuts the rest; resolves once the server and the upstream pool are
   * closed, with `drained: false` if requests had to be cut. Requests arriving meanwhile on open
   * connections get 503 with `Connection: close`. Idempotent.
   */
  close(): Promise<{ readonly drained: boolean }>;
}

/** Creates a proxy (not yet listening). Throws a `ConfigError` for invalid options. */
export function createProxy(options: ProxyOptions): ReverseProxy {
  return new AdaptiveProxy(options);
}

/** Request headers that concern one connection, never forwarded (plus any named in `Connection`). */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // undici does not forward `Expect`; node:http has already answered 100-continue to the client.
  'expect',
]);

const dropStatuses = new Set([429, 503, 504]);

class AdaptiveProxy implements ReverseProxy {
  readonly server: Server;
  readonly limiter: Limiter;
  readonly #clock: Clock;
  #settings: ProxySettings;
  #pool: Pool;
  #active = 0;
  #closing: Promise<{ readonly drained: boolean }> | undefined;
  #onIdle: (() => void) | undefined;

  constructor(options: ProxyOptions) {
    this.#settings = resolveProxyOptions(options);
    this.#clock = options.clock ?? systemClock;
    const s = this.#settings;
    const limiterOptions: LimiterOptions = {
      name: 'proxy',
      clock: this.#clock,
      queue: s.queue === false ? false : { size: s.queue.size, timeout: s.queue.timeout },
      ...(s.limit === 'adaptive' ? {} : { limit: s.limit }),
      ...(s.priorities === undefined ? {} : { priorities: s.priorities }),
    };
    this.limiter = createLimiter(limiterOptions);
    this.#pool = newPool(s);
    this.server = createServer((req, res) => {
      this.#handle(req, res);
    });
  }

  get settings(): ProxySettings {
    return this.#settings;
  }

  get active(): number {
    return this.#active;
  }

  get address(): AddressInfo | undefined {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  start(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen(this.#settings.port, this.#settings.host, () => {
        this.server.off('error', onError);
        resolve(this.address!);
      });
    });
  }

  reload(options: ProxyOptions): readonly string[] {
    const old = this.#settings;
    const next = resolveProxyOptions(options);
    if (JSON.stringify(next.priorities) !== JSON.stringify(old.priorities)) {
      throw new ConfigError(
        'priorities',
        next.priorities,
        'unchanged on reload (restart to change the levels)',
      );
    }
    const restart: string[] = [];
    if (next.host !== old.host) restart.push('host');
    if (next.port !== old.port) restart.push('port');
    if (next.limit !== old.limit) restart.push('limit');
    if (JSON.stringify(next.queue) !== JSON.stringify(old.queue)) restart.push('queue');
    if (next.upstream.origin !== old.upstream.origin || next.connections !== old.connections) {
      const previous = this.#pool;
      this.#pool = newPool(next);
      // close() lets requests already dispatched on the old pool complete.
      void previous.close().catch(() => {});
    }
    this.#settings = next;
    return restart;
  }

  close(): Promise<{ readonly drained: boolean }> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<{ readonly drained: boolean }> {
    const listening = this.server.listening;
    const closed = new Promise<void>((resolve) => {
      if (listening) this.server.close(() => resolve());
      else resolve();
    });
    this.server.closeIdleConnections();
    const drained = await this.#drain();
    // Whatever is left is idle keep-alive connections (drained) or requests past the drain timeout.
    this.server.closeAllConnections();
    await closed;
    if (drained) await this.#pool.close();
    else await this.#pool.destroy();
    return { drained };
  }

  #drain(): Promise<boolean> {
    if (this.#active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(() => {
        this.#onIdle = undefined;
        resolve(false);
      }, this.#settings.drainTimeout);
      this.#onIdle = () => {
        timer.cancel();
        this.#onIdle = undefined;
        resolve(true);
      };
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closing !== undefined) {
      res.writeHead(503, { connection: 'close', 'retry-after': '1', 'content-type': 'text/plain' });
      res.end('shutting down\n');
      return;
    }
    this.#active++;
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
      if (--this.#active === 0) this.#onIdle?.();
    });
    const settings = this.#settings;
    const pool = this.#pool;
    let deadline: number | undefined;
    if (settings.deadlineHeader !== undefined) {
      const raw = req.headers[settings.deadlineHeader];
      if (raw !== undefined) {
        const budget =
          typeof raw === 'string' && /^\d{1,10}(\.\d+)?$/.test(raw.trim()) ? Number(raw) : Number.NaN;
        if (!Number.isFinite(budget)) {
          answer(res, 400, `malformed ${settings.deadlineHeader}: expected milliseconds of budget\n`);
          return;
        }
        deadline = this.#clock.now() + budget;
      }
    }
    const priority = settings.routes.level(req.method ?? 'GET', req.url ?? '/');
    const acquire =
      deadline === undefined
        ? { priority, signal: controller.signal, orWait: true }
        : { priority, deadline, signal: controller.signal, orWait: true };
    const permit = this.limiter.tryAcquire(acquire);
    if (permit !== undefined) {
      this.#forward(req, res, permit, settings, pool, controller, deadline);
      return;
    }
    this.limiter.acquire(acquire).then(
      (p) => {
        if (controller.signal.aborted) p.ignore();
        else this.#forward(req, res, p, settings, pool, controller, deadline);
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        if (isRejectedError(error)) {
          const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
          res.setHeader('retry-after', String(seconds));
          answer(res, 503, `overloaded (${error.reason}); retry after ${seconds} s\n`);
        } else {
          answer(res, 500, 'proxy error\n');
        }
      },
    );
  }

  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    permit: Permit,
    settings: ProxySettings,
    pool: Pool,
    controller: AbortController,
    deadline: number | undefined,
  ): void {
    const clock = this.#clock;
    const started = clock.now();
    let wait = settings.upstreamTimeout;
    if (deadline !== undefined) wait = Math.min(wait, Math.max(0, deadline - started));
    let timedOut = false;
    const timer = clock.setTimer(() => {
      timedOut = true;
      controller.abort(new Error('upstream timeout'));
    }, wait);
    const headers = upstreamHeaders(req);
    if (settings.deadlineHeader !== undefined && deadline !== undefined) {
      headers[settings.deadlineHeader] = String(Math.max(0, Math.floor(deadline - started)));
    }
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    pool
      .request({
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as 'GET',
        headers,
        body: hasBody ? req : null,
        signal: controller.signal,
      })
      .then(
        (upstream) => {
          timer.cancel();
          const rtt = clock.now() - started;
          const outcome: Outcome = dropStatuses.has(upstream.statusCode) ? 'dropped' : 'success';
          if (res.closed) {
            upstream.body.destroy();
            permit.ignore();
            return;
          }
          if (this.#closing !== undefined) res.shouldKeepAlive = false;
          res.writeHead(upstream.statusCode, responseHeaders(upstream.headers));
          pipeline(upstream.body, res, () => {
            // A client leaving mid-body does not change what the upstream's answer taught us.
            permit.release(outcome, rtt);
          });
        },
        (error: unknown) => {
          timer.cancel();
          if (timedOut) {
            permit.dropped();
            answer(res, 504, 'upstream timed out\n');
          } else if (res.closed || (controller.signal.aborted && !timedOut)) {
            permit.ignore();
          } else {
            // Refused, reset or unreachable: an overloaded peer sheds connections, so learn a drop.
            permit.dropped();
            const code = (error as { code?: unknown } | null)?.code;
            answer(res, 502, `upstream unavailable${typeof code === 'string' ? ` (${code})` : ''}\n`);
          }
          if (hasBody && !req.readableEnded) req.resume();
        },
      );
  }
}

function newPool(s: ProxySettings): Pool {
  // Timeouts run on the injected clock (see #forward); undici's own header timer is disabled.
  return new Pool(s.upstream.origin, { connections: s.connections, headersTimeout: 0 });
}

function answer(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.closed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Parsed `Connection` values by their text: nearly every message carries one of a handful ("keep-alive",
 * "close"), and parsing one per message took 3 µs of a proxied request. Bounded, so that clients sending
 * endless different values cannot grow it; past the bound values are parsed each time.
 */
const connectionValues = new Map<string, ReadonlySet<string>>();
const MAX_CONNECTION_VALUES = 64;

/** Names listed in a `Connection` header, lower-case. */
function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const known = connectionValues.get(text);
  if (known !== undefined) return known;
  const tokens = new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
  if (connectionValues.size < MAX_CONNECTION_VALUES) connectionValues.set(text, tokens);
  return tokens;
}

function upstreamHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const listed = connectionTokens(req.headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || hopByHop.has(name) || listed?.has(name) === true) continue;
    out[name] = value;
  }
  const client = req.socket.remoteAddress;
  if (client !== undefined) {
    const previous = req.headers['x-forwarded-for'];
    out['x-forwarded-for'] = previous === undefined ? client : `${previous}, ${client}`;
  }
  out['x-forwarded-proto'] ??= (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (req.headers.host !== undefined) out['x-forwarded-host'] ??= req.headers.host;
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const listed = connectionTokens(headers['connection']);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || hopByHop.has(name) || listed?.has(name) === true) continue;
    out[name] = value;
  }
  return out;
}
