import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock, type Timer } from '../../core/clock.ts';
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
import { seededRandom } from '../../policies/backoff/backoff.ts';
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
  /**
   * Longest `close()` waits for admitted and queued requests to finish (ms) before it cuts the rest.
   * Default 10000 (as `sluice proxy`'s `drainTimeout`).
   */
  readonly drainTimeout?: number;
  /**
   * Cuts off an admitted request whose body arrives too slowly (after Apache's mod_reqtimeout): one still
   * arriving `timeout` ms after it was first checked, plus a second for every `minRate` bytes received since,
   * has its connection closed (a 408 first, when no response has started) and its permit released. Checked
   * once a second. Node's own server bounds a whole request at 300 s by default; Fastify's, at nothing.
   * `false` turns it off. Default `{ timeout: 20000, minRate: 500 }`.
   */
  readonly slowBody?: SlowBodyOptions | false;
}

/** See `ServerProtectionOptions.slowBody`. */
export interface SlowBodyOptions {
  /** Grace for a body to arrive (ms), before what it earns by arriving. Default 20000. */
  readonly timeout?: number;
  /** Bytes per second that earn a body one more second. Default 500. */
  readonly minRate?: number;
}

/** How a `close()` ended. */
export interface DrainResult {
  /** True when every admitted and queued request finished within the timeout. */
  readonly drained: boolean;
  /**
   * Requests that had not finished when the timeout passed: admitted ones have their connections closed,
   * queued ones (not started) are refused with 503.
   */
  readonly cut: number;
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
  /** Admitted requests cut off because their body arrived too slowly (see `slowBody`). */
  readonly slowBody: number;
  /** Refused with 503: the limit, the queue, a deadline, process pressure, or shutting down. */
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
  /** True once `close()` was called: new requests are refused and readiness reports 503. */
  readonly draining: boolean;
  readonly routes: Readonly<Record<string, RouteSnapshot>>;
}

/**
 * What `admit` decided: `undefined` to let the request through (its permit is released when the response
 * closes), a `Reply` to send instead, or, when the request waits in the queue, a promise of either;
 * the promise gives `null` when the client left while queued (there is nothing left to answer).
 */
export type Admit = Reply | undefined | Promise<Reply | undefined | null>;

class RouteStats {
  inflight = 0;
  success = 0;
  dropped = 0;
  ignored = 0;
  disconnected = 0;
  slowBody = 0;
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
/** The abort reason of a queued request refused because the drain timed out. */
const DRAIN_TIMEOUT = Symbol('sluice.drain-timeout');
/**
 * Above this many requests a second, a route's latency and the limit's samples (round trips and drops alike)
 * come from a random sample of the requests admitted at once, each timed one counting in the route's
 * histogram for as many requests as it stands for; below it every request is timed. Reading the clock twice
 * per request was, with the limit's update, about 2 % of a hello-world Fastify route's CPU; a sample of this
 * many a second still gives the limit hundreds of round trips per window.
 */
const TIMED_PER_SECOND = 2000;
/** Most requests a timed one stands for (a power of two). */
const MAX_TIME_EVERY = 64;
/** How often the request rate, and so the share of requests timed, is reviewed while requests arrive (ms). */
const RATE_TICK = 100;
/** How often admitted requests are checked for a slow body (ms). */
const SLOW_BODY_CHECK = 1000;
/** What a request cut off for a slow body is told, when no response has started (as Node's own timeout). */
const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * One request the protection answers for, queued or admitted, from classification until its response
 * closes. It sits in the protection's list of pending requests (what `close()` waits for); the permit is
 * released exactly once, on the response's `close`.
 */
class Admission {
  /** The protection's handler of a closed response (one function per protection, not per request). */
  readonly #closed: (a: Admission) => void;
  readonly res: ServerResponse;
  readonly stats: RouteStats;
  readonly key: string | undefined;
  /** Arrival time, or NaN until known (the permit's start time doubles as it when nothing waited). */
  arrivedAt: number;
  /**
   * How many requests this one's latency stands for in its route's histogram: 1, the sampling period for a
   * request timed as one of a sample, 0 for one left untimed.
   */
  timing = 1;
  /** Undefined while queued. */
  permit: Permit | undefined = undefined;
  /** Set while queued: aborting it gives the place in the queue up. */
  abort: AbortController | undefined = undefined;
  /** True from classification until the response closes or the request is refused from the queue. */
  pending = false;
  prev: Admission | undefined = undefined;
  next: Admission | undefined = undefined;
  /** When the slow-body check first saw the body still arriving (NaN before), and the bytes read then. */
  bodySince = Number.NaN;
  bodyBytes = 0;
  /** Cut off for a slow body. */
  slow = false;

  /**
   * The response's one `close` listener: 'close' follows 'finish' on a completed response and also marks a
   * cut connection, and the handler tells them apart by `writableFinished`.
   */
  readonly end = (): void => {
    this.#closed(this);
  };

  constructor(
    closed: (a: Admission) => void,
    res: ServerResponse,
    stats: RouteStats,
    key: string | undefined,
    arrivedAt: number,
  ) {
    this.#closed = closed;
    this.res = res;
    this.stats = stats;
    this.key = key;
    this.arrivedAt = arrivedAt;
  }
}

/**
 * The framework-free core of server protection: the adapters (node:http, Express, Fastify) hand it each
 * request and act on its answer. It admits through an adaptive limiter with a short deadline-aware priority
 * queue, refuses with 503 (overload) or 429 (over quota) and Retry-After, answers health probes, keeps
 * per-route metrics, and drains on shutdown (`close()`).
 *
 * The admission path allocates the permit, one record and one `close` listener per request, and nothing
 * else on the common path: headers are read only when an option names them, and the request is described
 * to classifiers only when there are classifiers.
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
  /** Stats of `METHOD path` names by method then path: no string is built per request to find them. */
  readonly #byMethodPath = new Map<string, Map<string, RouteStats>>();
  readonly #retryAfterPressure: string;
  readonly #byLevel: readonly AcquireOptions[];
  /** As `#byLevel`, for requests left untimed. */
  readonly #untimedByLevel: readonly AcquireOptions[];
  /** One request in this many admitted at once is timed (a power of two), from the rate; see TIMED_PER_SECOND. */
  #timeEvery = 1;
  /** Requests since the rate was last reviewed. */
  #arrivals = 0;
  #rateTimer: Timer | undefined = undefined;
  /** Which requests are timed is random (and seeded), so no pattern in the traffic can hide a route. */
  readonly #random = seededRandom(0x2545f491);
  readonly #drainTimeout: number;
  readonly #slowBody: { readonly timeout: number; readonly perByte: number } | undefined;
  #slowTimer: Timer | undefined = undefined;
  /** Pending requests (queued or admitted), newest first; `close()` waits for the list to empty. */
  #head: Admission | undefined = undefined;
  #pending = 0;
  #closing: Promise<DrainResult> | undefined = undefined;
  #onIdle: (() => void) | undefined = undefined;
  readonly #onClosed = (a: Admission): void => {
    this.#closed(a);
  };

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
    this.#byLevel = Array.from({ length: this.#levels.count }, (_, priority) =>
      Object.freeze({ priority, orWait: true }),
    );
    this.#untimedByLevel = Array.from({ length: this.#levels.count }, (_, priority) =>
      Object.freeze({ priority, orWait: true, timed: false }),
    );
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
    this.#drainTimeout = nonNegative('drainTimeout', or(options.drainTimeout, 10_000));
    this.#slowBody = slowBodyOption(options.slowBody);
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

  /** True unless pressure is critical or the protection is draining: what the readiness probe reports. */
  get ready(): boolean {
    return this.#closing === undefined && this.level !== 'critical';
  }

  /** True once `close()` was called. */
  get draining(): boolean {
    return this.#closing !== undefined;
  }

  /** Requests admitted or queued and not yet finished: what `close()` waits for. */
  get pending(): number {
    return this.#pending;
  }

  /** Takes a pressure reading now (the timer does this every interval). */
  samplePressure(): void {
    this.#pressure?.sample();
  }

  /**
   * Admits `req` or refuses it; the adapters call this first thing for every request. See `Admit` for the
   * answer. `route` is the route template, when the framework knows it.
   */
  admit(req: IncomingMessage, res: ServerResponse, route: string | undefined): Admit {
    const url = req.url ?? '/';
    if (this.#livePath !== undefined && isPath(url, this.#livePath)) return this.#health(true);
    if (this.#readyPath !== undefined && isPath(url, this.#readyPath)) return this.#health(false);
    const method = req.method ?? 'GET';
    // Classifiers and a `route` function see the request described; without them nothing is built.
    const info: RequestInfo | undefined =
      this.#classifiers.length > 0 || this.#route !== undefined
        ? { method, path: pathOf(url), route, headers: req.headers }
        : undefined;
    const stats = this.#statsOf(method, url, route, info);
    if (this.#closing !== undefined) {
      stats.shed++;
      return SHUTTING_DOWN;
    }

    let deadline: number | undefined;
    let now = Number.NaN;
    if (this.#deadlineHeader !== undefined) {
      const raw = req.headers[this.#deadlineHeader];
      if (raw !== undefined) {
        const ms = typeof raw === 'string' && DIGITS.test(raw) ? Number(raw) : Number.NaN;
        if (!(ms > 0)) {
          stats.invalid++;
          return text(
            400,
            `sluice: header ${this.#deadlineHeader} must be a whole number of milliseconds > 0`,
          );
        }
        now = this.clock.now();
        deadline = now + Math.min(ms, this.#maxDeadline);
      }
    }

    let priority = this.#levels.defaultLevel;
    let partition: string | undefined;
    let key: string | undefined;
    let weight: number | undefined;
    if (info !== undefined && this.#classifiers.length > 0) {
      let cls: Classification | undefined;
      try {
        for (const classify of this.#classifiers) {
          const c = classify(info);
          if (c !== undefined) cls = cls === undefined ? c : { ...cls, ...c };
        }
      } catch {
        // A throwing classifier is the application's bug: answer this request, keep the process up.
        stats.invalid++;
        return text(500, 'sluice: request classification failed');
      }
      if (cls !== undefined) {
        if (cls.priority !== undefined) {
          const p = this.#levelOf(cls.priority);
          if (p === undefined) {
            stats.invalid++;
            return text(400, `sluice: unknown priority ${JSON.stringify(String(cls.priority))}`);
          }
          priority = p;
        }
        partition = cls.partition;
        if (partition !== undefined && !this.#partitions?.has(partition)) {
          stats.invalid++;
          return text(400, `sluice: unknown partition ${JSON.stringify(String(partition))}`);
        }
        weight = cls.weight;
        if (weight !== undefined && !(weight > 0 && weight <= 1e6)) {
          stats.invalid++;
          return text(400, 'sluice: request weight must be a number > 0');
        }
        key = cls.key;
      }
    }

    const pressure = this.#pressure;
    if (pressure !== undefined) {
      const level = pressure.level;
      if (
        (level === 'critical' && priority >= this.#shedCritical) ||
        (level === 'elevated' && priority >= this.#shedElevated)
      ) {
        stats.shed++;
        return refusal(503, `sluice: shedding ${level} load`, this.#retryAfterPressure);
      }
    }

    if (key !== undefined && this.#maxPerKey !== Number.POSITIVE_INFINITY) {
      const held = this.#perKey.get(key) ?? 0;
      if (held >= this.#maxPerKey) {
        stats.quota++;
        return refusal(429, `sluice: key over its quota of ${this.#maxPerKey} requests`, '1');
      }
      this.#perKey.set(key, held + 1);
    }

    // The common case (a priority and nothing else) reuses one options object per level. `orWait`: a request
    // that finds no permit goes on to wait below, so the failed try is not a rejection. At high rates it is
    // timed only if drawn into the sample (a request with a deadline header has read the clock already).
    if (++this.#arrivals === 1 && this.#rateTimer === undefined) this.#armRate();
    const every = this.#timeEvery;
    const timing = every === 1 || deadline !== undefined ? 1 : this.#draw(every) ? every : 0;
    const options: AcquireOptions =
      partition === undefined && key === undefined && weight === undefined && deadline === undefined
        ? timing === 0
          ? this.#untimedByLevel[priority]!
          : this.#byLevel[priority]!
        : {
            ...(timing === 0 ? { timed: false } : {}),
            priority,
            orWait: true,
            ...(partition === undefined ? {} : { partition }),
            ...(key === undefined ? {} : { key }),
            ...(weight === undefined ? {} : { weight }),
            ...(deadline === undefined ? {} : { deadline }),
          };
    const a = new Admission(this.#onClosed, res, stats, key, now);
    a.timing = timing;
    // A listener per request rather than one shared listener and a property on the response: a property
    // added here would change the shape of every response Node's HTTP code handles.
    res.on('close', a.end);
    this.#link(a);
    const permit = this.limiter.tryAcquire(options);
    if (permit !== undefined) {
      this.#admitted(a, permit);
      return undefined;
    }
    // Slow path: wait in the queue; a client that leaves while queued gives its place up. Every queued
    // request is timed (its wait counts), standing for itself alone.
    if (Number.isNaN(a.arrivedAt)) a.arrivedAt = this.clock.now();
    a.timing = 1;
    const abort = new AbortController();
    a.abort = abort;
    return this.limiter.acquire({ ...options, signal: abort.signal }).then(
      (p) => {
        a.abort = undefined;
        if (!abort.signal.aborted) {
          this.#admitted(a, p);
          return undefined;
        }
        p.ignore(); // granted in the same turn as the request was given up
        return this.#givenUp(a, abort.signal.reason);
      },
      (error: unknown) => {
        a.abort = undefined;
        if (abort.signal.aborted) return this.#givenUp(a, abort.signal.reason);
        this.#forget(a);
        const reply = rejected(error);
        if (reply.status === 429) a.stats.quota++;
        else a.stats.shed++;
        return reply;
      },
    );
  }

  /**
   * Callback form of `admit`: calls `done()` once admitted (the permit is released when `res` finishes or
   * closes), or `done(reply)` with a response to send instead; calls neither if the client leaves while
   * queued.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: string | undefined,
    done: (reply?: Reply) => void,
  ): void {
    const answer = this.admit(req, res, route);
    if (answer instanceof Promise) {
      void answer.then((a) => {
        if (a !== null) done(a);
      });
    } else {
      done(answer);
    }
  }

  /**
   * Graceful shutdown. At once: readiness answers 503 (so a load balancer stops sending), new requests are
   * refused with 503, `Retry-After` and `Connection: close`, pressure readings stop, and the connections of
   * requests in flight are marked to close after their responses. Admitted and queued requests carry on;
   * resolves when none is left, or after `timeout` ms (default the `drainTimeout` option), when admitted
   * requests still running have their connections closed and queued ones are refused with 503. Idempotent:
   * later calls return the first call's promise.
   *
   * The protection does not own the server: for node:http and Express, close the server after this
   * resolves (`server.close()` then ends the idle keep-alive connections); the Fastify plugin calls it
   * from a `preClose` hook, so `fastify.close()` drains.
   */
  close(timeout?: number): Promise<DrainResult> {
    if (this.#closing === undefined) {
      const ms = timeout === undefined ? this.#drainTimeout : nonNegative('timeout', timeout);
      this.#pressure?.stop();
      this.#closing = this.#drain(ms).then((result) => {
        // Drained (or cut): nothing is left to check for a slow body, and nothing new is admitted.
        this.#slowTimer?.cancel();
        this.#slowTimer = undefined;
        this.#rateTimer?.cancel();
        this.#rateTimer = undefined;
        return result;
      });
    }
    return this.#closing;
  }

  /** The response of a request closed: releases its permit, or gives its place in the queue up. */
  #closed(a: Admission): void {
    if (!a.pending) return; // refused from the queue: already accounted for
    const permit = a.permit;
    if (permit === undefined) {
      // Still queued: give the place up (the rejection then answers nothing).
      a.abort?.abort();
      a.stats.disconnected++;
      this.#forget(a);
      return;
    }
    const res = a.res;
    const stats = a.stats;
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
      // The limiter read the clock to time its sample: one read per request fewer than reading it again.
      if (a.timing > 0) stats.latency.record((permit.endedAt ?? this.clock.now()) - a.arrivedAt, a.timing);
    } else {
      // The client left (or a timeout cut the socket): says nothing about our service time.
      if (a.slow) stats.slowBody++;
      else stats.disconnected++;
      permit.ignore();
    }
    this.#forget(a);
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
      draining: this.#closing !== undefined,
      routes,
    };
  }

  #admitted(a: Admission, permit: Permit): void {
    a.permit = permit;
    // An untimed permit (a fixed limit samples one call in many) has NaN as its start.
    if (a.timing > 0 && Number.isNaN(a.arrivedAt)) {
      a.arrivedAt = Number.isNaN(permit.startedAt) ? this.clock.now() : permit.startedAt;
    }
    a.stats.inflight++;
    if (this.#slowBody !== undefined && this.#slowTimer === undefined) this.#armSlowBody();
    if (this.#closing !== undefined && !a.res.headersSent) a.res.shouldKeepAlive = false;
  }

  /** A queued request was given up: its client left (`#closed` counted it), or the drain timed out. */
  #givenUp(a: Admission, reason: unknown): Reply | null {
    if (reason !== DRAIN_TIMEOUT) return null;
    this.#forget(a);
    a.stats.shed++;
    return SHUTTING_DOWN;
  }

  #link(a: Admission): void {
    a.pending = true;
    const head = this.#head;
    a.next = head;
    if (head !== undefined) head.prev = a;
    this.#head = a;
    this.#pending++;
  }

  /** Takes a pending request off the list and gives its key back; once per admission. */
  #forget(a: Admission): void {
    if (!a.pending) return;
    a.pending = false;
    const { prev, next } = a;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next !== undefined) next.prev = prev;
    a.prev = undefined;
    a.next = undefined;
    this.#releaseKey(a.key);
    if (--this.#pending === 0) this.#onIdle?.();
  }

  #drain(timeout: number): Promise<DrainResult> {
    for (let a = this.#head; a !== undefined; a = a.next) {
      if (a.permit !== undefined && !a.res.headersSent) a.res.shouldKeepAlive = false;
    }
    if (this.#pending === 0) return Promise.resolve({ drained: true, cut: 0 });
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => {
        this.#onIdle = undefined;
        resolve({ drained: false, cut: this.#cut() });
      }, timeout);
      this.#onIdle = () => {
        timer.cancel();
        this.#onIdle = undefined;
        resolve({ drained: true, cut: 0 });
      };
    });
  }

  #armRate(): void {
    this.#rateTimer = this.clock.setTimer(() => this.#reviewRate(), RATE_TICK, { ref: false });
  }

  /** Sets the share of requests timed from the last tick's rate; stops reviewing after a tick with none. */
  #reviewRate(): void {
    const perSecond = (this.#arrivals * 1000) / RATE_TICK;
    this.#arrivals = 0;
    let every = 1;
    while (every < MAX_TIME_EVERY && perSecond >= 2 * every * TIMED_PER_SECOND) every *= 2;
    this.#timeEvery = every;
    this.#rateTimer = undefined;
    if (perSecond > 0 && this.#closing === undefined) this.#armRate();
  }

  /** True with probability 1 / `every`. */
  #draw(every: number): boolean {
    return this.#random() * every < 1;
  }

  #armSlowBody(): void {
    this.#slowTimer = this.clock.setTimer(() => this.#checkSlowBodies(), SLOW_BODY_CHECK, { ref: false });
  }

  /**
   * Cuts off admitted requests whose body falls behind: walks the pending list (a timer while any request
   * is pending, none otherwise). The bytes a socket has read stand for the body's progress: no listener per
   * request, and a request that finishes within a check costs nothing here.
   */
  #checkSlowBodies(): void {
    this.#slowTimer = undefined;
    const { timeout, perByte } = this.#slowBody!;
    const now = this.clock.now();
    for (let a = this.#head; a !== undefined; ) {
      const next = a.next;
      const req = a.permit === undefined ? undefined : a.res.req;
      const socket = a.res.socket;
      if (req !== undefined && !req.complete && socket !== null && !socket.destroyed) {
        const bytes = socket.bytesRead;
        if (Number.isNaN(a.bodySince)) {
          a.bodySince = now;
          a.bodyBytes = bytes;
        } else if (now - a.bodySince >= timeout + (bytes - a.bodyBytes) * perByte) {
          a.slow = true;
          if (!a.res.headersSent) socket.end(REQUEST_TIMEOUT);
          socket.destroySoon();
        }
      }
      a = next;
    }
    if (this.#pending > 0) this.#armSlowBody();
  }

  /** Ends what is still pending when the drain times out; returns how many. */
  #cut(): number {
    let cut = 0;
    for (let a = this.#head; a !== undefined; ) {
      const next = a.next;
      if (a.permit === undefined) {
        // Not started: a clear 503 rather than a reset, so that the client knows nothing ran.
        cut++;
        a.abort?.abort(DRAIN_TIMEOUT);
      } else if (!a.res.writableFinished) {
        cut++;
        a.res.destroy();
      }
      a = next;
    }
    return cut;
  }

  #releaseKey(key: string | undefined): void {
    if (key === undefined || this.#maxPerKey === Number.POSITIVE_INFINITY) return;
    const held = (this.#perKey.get(key) ?? 1) - 1;
    if (held <= 0) this.#perKey.delete(key);
    else this.#perKey.set(key, held);
  }

  #health(live: boolean): Reply {
    const draining = this.#closing !== undefined;
    const ok = live || this.ready;
    const s = this.limiter.snapshot();
    const body = JSON.stringify({
      status: ok ? 'ok' : draining ? 'draining' : 'unavailable',
      level: this.level,
      limit: s.limit,
      inflight: s.inflight,
      queued: s.queued,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'cache-control': 'no-store',
    };
    if (draining) headers['connection'] = 'close';
    return { status: ok ? 200 : 503, headers, body };
  }

  #levelOf(priority: Priority): number | undefined {
    try {
      return this.#levels.index(priority);
    } catch {
      return undefined;
    }
  }

  #statsOf(
    method: string,
    url: string,
    route: string | undefined,
    info: RequestInfo | undefined,
  ): RouteStats {
    if (this.#route !== undefined && info !== undefined) return this.#named(this.#route(info));
    if (route !== undefined) return this.#named(route);
    // `METHOD path` without building the string unless the route is new.
    const path = pathOf(url);
    let paths = this.#byMethodPath.get(method);
    if (paths === undefined) {
      paths = new Map();
      this.#byMethodPath.set(method, paths);
    }
    let stats = paths.get(path);
    if (stats === undefined) {
      stats = this.#named(`${method} ${path}`);
      // Remember only named routes: paths past `maxRoutes` share "(other)" and must not grow this map.
      if (this.#routes.get(`${method} ${path}`) === stats) paths.set(path, stats);
    }
    return stats;
  }

  #named(name: string): RouteStats {
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

/** The answer to requests that arrive while the protection drains. */
const SHUTTING_DOWN: Reply = Object.freeze({
  status: 503,
  headers: Object.freeze({ 'content-type': TEXT, 'retry-after': '1', connection: 'close' }),
  body: 'sluice: shutting down',
});

/** True when the request target `url` is `path`, with or without a query string. */
function isPath(url: string, path: string): boolean {
  return url.startsWith(path) && (url.length === path.length || url.charCodeAt(path.length) === 63); // '?'
}

/** The path of a request target, without the query string. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** 429 for a partition at its cap (a client class over its quota), 503 for every other rejection. */
function rejected(error: unknown): Reply {
  if (!isRejectedError(error)) return text(500, 'sluice: admission failed');
  const e = error as RejectedError;
  const seconds = String(Math.max(1, Math.ceil(e.retryAfterMs / 1000)));
  return refusal(e.reason === 'partition' ? 429 : 503, e.message, seconds);
}

function slowBodyOption(
  value: SlowBodyOptions | false | undefined,
): { readonly timeout: number; readonly perByte: number } | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null))
    throw new ConfigError('slowBody', value, '{ timeout?, minRate? } or false');
  const timeout = positive('slowBody.timeout', or(value?.timeout, 20_000));
  const minRate = positive('slowBody.minRate', or(value?.minRate, 500));
  return { timeout, perByte: 1000 / minRate };
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
