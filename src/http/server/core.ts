import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock } from '../../core/clock.ts';
import { ConfigError, isRejectedError, type RejectedError } from '../../core/errors.ts';
import { func, integer, nonNegative, or, positive } from '../../core/validate.ts';
import { createLimiter, defaultLimit } from '../../limiter/limiter.ts';
import { PriorityLevels } from '../../limiter/priority-levels.ts';
import type {
  AcquireOptions,
  Limiter,
  PartitionOptions,
  Permit,
  Priority,
  QueueOptions,
} from '../../limiter/types.ts';
import { fixedLimit } from '../../limits/fixed.ts';
import type { Limit } from '../../limits/limit.ts';
import { LatencyHistogram, type LatencySnapshot } from '../../signals/histogram.ts';
import type { PressureLevel } from '../../signals/pressure.ts';
import { type LoadReading, ProcessPressure, type ServerPressureOptions } from './pressure.ts';

/** What classifiers see of a request. */
export interface RequestInfo {
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  /** The framework's route template (e.g. `/users/:id`) when known at admission (Fastify), else undefined. */
  readonly route: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** How a request is admitted. Every field is optional; a missing one takes the limiter's default. */
export interface Classification {
  /** A criticality name (`critical`, `high`, `normal`, `low`, `sheddable`) or a level index. */
  readonly priority?: Priority;
  /** A partition named in `partitions`. */
  readonly partition?: string;
  /** Fairness key (client, tenant): served round-robin within a priority, and capped by `maxPerKey`. */
  readonly key?: string;
  /** Cost in permits. Default 1. */
  readonly weight?: number;
}

/** Returns a classification, or undefined to leave the request as it is. */
export type Classifier = (request: RequestInfo) => Classification | undefined;

/** A response the protection sends itself (a refusal, or a health report). */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ServerProtectionOptions {
  /** Name of the limiter, for events and metrics. Default `"http"`. */
  readonly name?: string;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Limit algorithm, or a fixed number. Default `defaultLimit()` (windowed median into Gradient2). */
  readonly limit?: Limit | number;
  /**
   * The queue in front of the limit, or `false` to refuse at the limit. Kept short for a server: a request
   * that waits long is one its client has given up on. Default `{ size: 128, timeout: 1000 }` (CoDel-style
   * target and adaptive LIFO as the limiter's defaults).
   */
  readonly queue?: QueueOptions | false;
  /** Partitions with guaranteed shares of the limit (see `LimiterOptions.partitions`). Default one. */
  readonly partitions?: Readonly<Record<string, PartitionOptions>>;
  /**
   * Classifiers, applied in order; later ones override the fields they set. See `byHeader`, `byRoute`,
   * `byMethod`. A priority or partition that is not known answers 400. Default none (all `normal`).
   */
  readonly classify?: Classifier | readonly Classifier[];
  /**
   * Most requests one key may hold (in flight and queued); one more answers 429. `Infinity` for no cap.
   * Default `Infinity`.
   */
  readonly maxPerKey?: number;
  /**
   * Request header carrying the client's remaining time in ms (digits only), or `false` to ignore
   * deadlines. A malformed value answers 400. Default `"x-request-timeout"`.
   */
  readonly deadlineHeader?: string | false;
  /** Longest deadline honoured (ms); larger values are clamped to it. Default 60000. */
  readonly maxDeadline?: number;
  /** Event-loop and heap pressure as a ceiling on the limit, or `false`. Default `{}` (on, with defaults). */
  readonly pressure?: ServerPressureOptions | false;
  /**
   * Under pressure, requests of this priority or less important are refused (503) before they queue.
   * Default `{ elevated: "sheddable", critical: "low" }`.
   */
  readonly shed?: { readonly elevated?: Priority; readonly critical?: Priority };
  /** Liveness path (always 200 while the process answers), or `false`. Default `"/health/live"`. */
  readonly livePath?: string | false;
  /** Readiness path (503 while pressure is critical), or `false`. Default `"/health/ready"`. */
  readonly readyPath?: string | false;
  /**
   * Names the metrics bucket of a request. Default its route template when the framework knows it, else
   * its method and path.
   */
  readonly route?: (request: RequestInfo) => string;
  /** Most distinct metric routes; later ones are counted under `"(other)"`. Default 100. */
  readonly maxRoutes?: number;
}

/** Counters and latency of one route. */
export interface RouteSnapshot {
  readonly inflight: number;
  /** Responses that finished with a status other than 5xx (and 408, 429). */
  readonly success: number;
  /** Admitted requests that ended in 503, 504, 429 or 408: overload signals for the limit. */
  readonly dropped: number;
  /** Admitted requests that ended in another 5xx. */
  readonly ignored: number;
  /** Requests whose client went away before the response finished (admitted or queued). */
  readonly disconnected: number;
  /** Refused with 503: the limit, the queue, a deadline, or process pressure. */
  readonly shed: number;
  /** Refused with 429: the key or partition was over its quota. */
  readonly quota: number;
  /** Refused with 400: a malformed deadline, an unknown priority or partition. */
  readonly invalid: number;
  /** Time from arrival to a finished response, over admitted requests. */
  readonly latency: LatencySnapshot;
}

export interface ServerSnapshot {
  readonly limit: number;
  readonly inflight: number;
  readonly queued: number;
  readonly level: PressureLevel;
  /** Ceiling from pressure; `Infinity` when none binds. */
  readonly pressureCap: number;
  readonly load: LoadReading;
  readonly routes: Readonly<Record<string, RouteSnapshot>>;
}

class RouteStats {
  inflight = 0;
  success = 0;
  dropped = 0;
  ignored = 0;
  disconnected = 0;
  shed = 0;
  quota = 0;
  invalid = 0;
  readonly latency = new LatencyHistogram();

  snapshot(): RouteSnapshot {
    const { latency, ...counts } = this;
    return { ...counts, latency: latency.snapshot() };
  }
}

const OTHER_ROUTE = '(other)';
const TEXT = 'text/plain; charset=utf-8';
const DIGITS = /^\d+$/;

/** One admitted request: releases its permit exactly once, on `finish` or `close` of the response. */
class Admission {
  readonly #owner: ServerProtection;
  readonly #permit: Permit;
  readonly #res: ServerResponse;
  readonly #stats: RouteStats;
  readonly #key: string | undefined;
  readonly #arrivedAt: number;
  readonly end = (): void => {
    const permit = this.#permit;
    if (permit.released) return;
    const res = this.#res;
    const stats = this.#stats;
    stats.inflight--;
    if (res.writableFinished) {
      const status = res.statusCode;
      if (status === 503 || status === 504 || status === 429 || status === 408) {
        stats.dropped++;
        permit.dropped();
      } else if (status >= 500) {
        stats.ignored++;
        permit.ignore();
      } else {
        stats.success++;
        permit.success();
      }
      stats.latency.record(this.#owner.clock.now() - this.#arrivedAt);
    } else {
      // The client left (or a server timeout cut the socket): says nothing about our service time.
      stats.disconnected++;
      permit.ignore();
    }
    this.#owner.releaseKey(this.#key);
  };

  constructor(
    owner: ServerProtection,
    permit: Permit,
    res: ServerResponse,
    stats: RouteStats,
    key: string | undefined,
    arrivedAt: number,
  ) {
    this.#owner = owner;
    this.#permit = permit;
    this.#res = res;
    this.#stats = stats;
    this.#key = key;
    this.#arrivedAt = arrivedAt;
    stats.inflight++;
    // 'close' follows 'finish' on a completed response and also marks a cut connection: one listener
    // covers both, and `writableFinished` tells them apart.
    res.once('close', this.end);
  }
}

/**
 * The framework-free core of server protection: the adapters (node:http, Express, Fastify) hand it each
 * request and act on its answer. It admits through an adaptive limiter with a short deadline-aware priority
 * queue, refuses with 503 (overload) or 429 (over quota) and Retry-After, answers health probes, and keeps
 * per-route metrics.
 */
export class ServerProtection {
  readonly limiter: Limiter;
  readonly clock: Clock;
  readonly #pressure: ProcessPressure | undefined;
  readonly #levels: PriorityLevels;
  readonly #classifiers: readonly Classifier[];
  readonly #partitions: ReadonlySet<string> | undefined;
  readonly #maxPerKey: number;
  readonly #perKey = new Map<string, number>();
  readonly #deadlineHeader: string | undefined;
  readonly #maxDeadline: number;
  readonly #shedElevated: number;
  readonly #shedCritical: number;
  readonly #livePath: string | undefined;
  readonly #readyPath: string | undefined;
  readonly #route: ((request: RequestInfo) => string) | undefined;
  readonly #maxRoutes: number;
  readonly #routes = new Map<string, RouteStats>();
  readonly #retryAfterPressure: string;
  readonly #byLevel: readonly AcquireOptions[];

  constructor(options: ServerProtectionOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an options object');
    this.clock = or(options.clock, systemClock);
    const given = options.limit ?? defaultLimit();
    const base = typeof given === 'number' ? fixedLimit(integer('limit', given, 1)) : given;
    let limiter: Limiter | undefined;
    const inflight = (): number => limiter?.inflight ?? 0;
    const pressure =
      options.pressure === false
        ? undefined
        : new ProcessPressure(base, this.clock, inflight, options.pressure);
    this.#pressure = pressure;
    limiter = createLimiter({
      name: or(options.name, 'http'),
      clock: this.clock,
      limit: pressure ?? base,
      queue: options.queue ?? { size: 128, timeout: 1000 },
      ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    });
    this.limiter = limiter;
    this.#levels = new PriorityLevels('priorities', undefined);
    this.#byLevel = Array.from({ length: this.#levels.count }, (_, priority) => Object.freeze({ priority }));
    const c = options.classify;
    this.#classifiers =
      c === undefined
        ? []
        : Array.isArray(c)
          ? c.map((f, i) => func(`classify[${i}]`, f))
          : [func('classify', c)];
    this.#partitions =
      options.partitions === undefined ? undefined : new Set(Object.keys(options.partitions));
    const maxPerKey = or(options.maxPerKey, Number.POSITIVE_INFINITY);
    if (typeof maxPerKey !== 'number' || !(maxPerKey >= 1))
      throw new ConfigError('maxPerKey', maxPerKey, 'a number >= 1 (Infinity for no cap)');
    this.#maxPerKey = maxPerKey;
    const dh = or(options.deadlineHeader, 'x-request-timeout' as string | false);
    if (dh !== false && (typeof dh !== 'string' || dh === ''))
      throw new ConfigError('deadlineHeader', dh, 'a header name or false');
    this.#deadlineHeader = dh === false ? undefined : dh.toLowerCase();
    this.#maxDeadline = positive('maxDeadline', or(options.maxDeadline, 60_000));
    this.#shedElevated = this.#levels.index(or(options.shed?.elevated, 'sheddable'), 'shed.elevated');
    this.#shedCritical = this.#levels.index(or(options.shed?.critical, 'low'), 'shed.critical');
    this.#livePath = pathOption('livePath', options.livePath, '/health/live');
    this.#readyPath = pathOption('readyPath', options.readyPath, '/health/ready');
    this.#route = options.route === undefined ? undefined : func('route', options.route);
    this.#maxRoutes = integer('maxRoutes', or(options.maxRoutes, 100), 1);
    const interval = options.pressure === false ? 1000 : or(options.pressure?.interval, 1000);
    this.#retryAfterPressure = String(
      Math.max(1, Math.ceil(nonNegative('pressure.interval', interval) / 1000)),
    );
    pressure?.start();
  }

  /** Pressure level now; `"normal"` when pressure is off. */
  get level(): PressureLevel {
    return this.#pressure?.level ?? 'normal';
  }

  /** True unless pressure is critical: what the readiness probe reports. */
  get ready(): boolean {
    return this.level !== 'critical';
  }

  /** Takes a pressure reading now (the timer does this every interval). */
  samplePressure(): void {
    this.#pressure?.sample();
  }

  /**
   * Admits `req` or refuses it. Calls `done()` once admitted (the permit is released when `res` finishes
   * or closes), or `done(reply)` with a response to send instead (a refusal or a health report); calls
   * neither if the client leaves while queued. `route` is the route template, when the framework knows it.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: string | undefined,
    done: (reply?: Reply) => void,
  ): void {
    const now = this.clock.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === this.#livePath) {
      done(this.#health(true));
      return;
    }
    if (path === this.#readyPath) {
      done(this.#health(false));
      return;
    }
    const info: RequestInfo = { method: req.method ?? 'GET', path, route, headers: req.headers };
    const stats = this.#stats(info);

    let deadline: number | undefined;
    if (this.#deadlineHeader !== undefined) {
      const raw = req.headers[this.#deadlineHeader];
      if (raw !== undefined) {
        const ms = typeof raw === 'string' && DIGITS.test(raw) ? Number(raw) : Number.NaN;
        if (!(ms > 0)) {
          stats.invalid++;
          done(
            text(400, `sluice: header ${this.#deadlineHeader} must be a whole number of milliseconds > 0`),
          );
          return;
        }
        deadline = now + Math.min(ms, this.#maxDeadline);
      }
    }

    let cls: Classification | undefined;
    try {
      for (const classify of this.#classifiers) {
        const c = classify(info);
        if (c !== undefined) cls = cls === undefined ? c : { ...cls, ...c };
      }
    } catch {
      // A throwing classifier is the application's bug: answer this request, keep the process up.
      stats.invalid++;
      done(text(500, 'sluice: request classification failed'));
      return;
    }
    let priority = this.#levels.defaultLevel;
    if (cls?.priority !== undefined) {
      const p = this.#levelOf(cls.priority);
      if (p === undefined) {
        stats.invalid++;
        done(text(400, `sluice: unknown priority ${JSON.stringify(String(cls.priority))}`));
        return;
      }
      priority = p;
    }
    const partition = cls?.partition;
    if (partition !== undefined && !this.#partitions?.has(partition)) {
      stats.invalid++;
      done(text(400, `sluice: unknown partition ${JSON.stringify(String(partition))}`));
      return;
    }
    const weight = cls?.weight;
    if (weight !== undefined && !(weight > 0 && weight <= 1e6)) {
      stats.invalid++;
      done(text(400, 'sluice: request weight must be a number > 0'));
      return;
    }

    const level = this.level;
    if (
      (level === 'critical' && priority >= this.#shedCritical) ||
      (level === 'elevated' && priority >= this.#shedElevated)
    ) {
      stats.shed++;
      done(refusal(503, `sluice: shedding ${level} load`, this.#retryAfterPressure));
      return;
    }

    const key = cls?.key;
    if (key !== undefined && this.#maxPerKey !== Number.POSITIVE_INFINITY) {
      const held = this.#perKey.get(key) ?? 0;
      if (held >= this.#maxPerKey) {
        stats.quota++;
        done(refusal(429, `sluice: key over its quota of ${this.#maxPerKey} requests`, '1'));
        return;
      }
      this.#perKey.set(key, held + 1);
    }

    // The common case (a priority and nothing else) reuses one options object per level.
    const options: AcquireOptions =
      partition === undefined && key === undefined && weight === undefined && deadline === undefined
        ? this.#byLevel[priority]!
        : {
            priority,
            ...(partition === undefined ? {} : { partition }),
            ...(key === undefined ? {} : { key }),
            ...(weight === undefined ? {} : { weight }),
            ...(deadline === undefined ? {} : { deadline }),
          };
    const permit = this.limiter.tryAcquire(options);
    if (permit !== undefined) {
      new Admission(this, permit, res, stats, key, now);
      done();
      return;
    }
    // Slow path: wait in the queue; a client that leaves while queued gives its place up.
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    this.limiter.acquire({ ...options, signal: abort.signal }).then(
      (p) => {
        res.off('close', onClose);
        new Admission(this, p, res, stats, key, now);
        done();
      },
      (error: unknown) => {
        res.off('close', onClose);
        this.releaseKey(key);
        if (abort.signal.aborted) {
          stats.disconnected++;
          return;
        }
        const reply = rejected(error);
        if (reply.status === 429) stats.quota++;
        else stats.shed++;
        done(reply);
      },
    );
  }

  /** @internal an admission's key is given back. */
  releaseKey(key: string | undefined): void {
    if (key === undefined || this.#maxPerKey === Number.POSITIVE_INFINITY) return;
    const held = (this.#perKey.get(key) ?? 1) - 1;
    if (held <= 0) this.#perKey.delete(key);
    else this.#perKey.set(key, held);
  }

  /** Limiter state, pressure and per-route metrics, for the metrics exporters. */
  snapshot(): ServerSnapshot {
    const s = this.limiter.snapshot();
    const routes: Record<string, RouteSnapshot> = {};
    for (const [name, stats] of this.#routes) routes[name] = stats.snapshot();
    return {
      limit: s.limit,
      inflight: s.inflight,
      queued: s.queued,
      level: this.level,
      pressureCap: this.#pressure?.cap ?? Number.POSITIVE_INFINITY,
      load: this.#pressure?.load ?? {
        eventLoopDelayMs: Number.NaN,
        eventLoopUtilization: Number.NaN,
        heapUsed: Number.NaN,
      },
      routes,
    };
  }

  /** Stops the pressure readings (the timer is unref'd, so this matters only for tidy shutdowns and tests). */
  close(): void {
    this.#pressure?.stop();
  }

  #health(live: boolean): Reply {
    const ok = live || this.ready;
    const s = this.limiter.snapshot();
    const body = JSON.stringify({
      status: ok ? 'ok' : 'unavailable',
      level: this.level,
      limit: s.limit,
      inflight: s.inflight,
      queued: s.queued,
    });
    return {
      status: ok ? 200 : 503,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body,
    };
  }

  #levelOf(priority: Priority): number | undefined {
    try {
      return this.#levels.index(priority);
    } catch {
      return undefined;
    }
  }

  #stats(info: RequestInfo): RouteStats {
    const name = this.#route?.(info) ?? info.route ?? `${info.method} ${info.path}`;
    let stats = this.#routes.get(name);
    if (stats !== undefined) return stats;
    const key = this.#routes.size < this.#maxRoutes ? name : OTHER_ROUTE;
    stats = this.#routes.get(key);
    if (stats === undefined) {
      stats = new RouteStats();
      this.#routes.set(key, stats);
    }
    return stats;
  }
}

/** Creates the shared core; the adapters take it or its options. */
export function createServerProtection(options?: ServerProtectionOptions): ServerProtection {
  return new ServerProtection(options);
}

/** Reads priority, partition and fairness key from request headers (trust them only behind your own proxy). */
export function byHeader(names: {
  readonly priority?: string;
  readonly partition?: string;
  readonly key?: string;
}): Classifier {
  const p = names.priority?.toLowerCase();
  const part = names.partition?.toLowerCase();
  const k = names.key?.toLowerCase();
  return (request) => {
    const h = request.headers;
    const priority = p === undefined ? undefined : single(h[p]);
    const partition = part === undefined ? undefined : single(h[part]);
    const key = k === undefined ? undefined : single(h[k]);
    if (priority === undefined && partition === undefined && key === undefined) return undefined;
    return {
      ...(priority === undefined ? {} : { priority }),
      ...(partition === undefined ? {} : { partition }),
      ...(key === undefined ? {} : { key }),
    };
  };
}

/** Classifies by path prefix (or exact route template): the longest matching prefix wins. */
export function byRoute(table: Readonly<Record<string, Classification>>): Classifier {
  const entries = Object.entries(table).sort((a, b) => b[0].length - a[0].length);
  return (request) => {
    for (const [prefix, c] of entries) {
      if (request.route === prefix || request.path.startsWith(prefix)) return c;
    }
    return undefined;
  };
}

/** Classifies by HTTP method (upper case). */
export function byMethod(table: Readonly<Record<string, Classification>>): Classifier {
  const map = new Map(Object.entries(table).map(([m, c]) => [m.toUpperCase(), c]));
  return (request) => map.get(request.method);
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function text(status: number, body: string): Reply {
  return { status, headers: { 'content-type': TEXT }, body };
}

function refusal(status: number, body: string, retryAfter: string): Reply {
  return { status, headers: { 'content-type': TEXT, 'retry-after': retryAfter }, body };
}

/** 429 for a partition at its cap (a client class over its quota), 503 for every other rejection. */
function rejected(error: unknown): Reply {
  if (!isRejectedError(error)) return text(500, 'sluice: admission failed');
  const e = error as RejectedError;
  const seconds = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
  return refusal(e.reason === 'partition' ? 429 : 503, e.message, seconds);
}

function pathOption(option: string, value: unknown, fallback: string): string | undefined {
  const v = or(value as string | false | undefined, fallback);
  if (v === false) return undefined;
  if (typeof v !== 'string' || !v.startsWith('/'))
    throw new ConfigError(option, v, 'a path starting with "/" or false');
  return v;
}

/** Writes `reply` on a bare node:http response. */
export function sendReply(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
  res.end(reply.body);
}
