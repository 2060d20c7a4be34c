import type { Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { array, checkKeys, join, object } from '../core/spec.ts';
import { finite, fraction, integer, nonNegative, oneOf, positive } from '../core/validate.ts';
import { Deque } from './deque.ts';
import type { Engine } from './engine.ts';
import { type Distribution, type DistributionSpec, distribution, type Random } from './random.ts';
import type { Attempt, Response } from './request.ts';

/**
 * Downstream models: the thing behind the policy that does the work. The model is a pool of servers in
 * the shape of a thread-pool server: `concurrency` requests are served at once per replica, the rest wait
 * in one shared queue (so several replicas behave as ideally balanced), and a full queue refuses at once.
 *
 * A request's service time is its intrinsic `work` (drawn from `service` when it arrived, so that it does
 * not depend on what the policy did) divided by the current `speed`, stretched by contention and by any
 * latency fault active when it starts. The downstream never answers synchronously from `submit()`: even an
 * immediate refusal is a zero-delay event, so a policy is never re-entered from its own admission call.
 */
export interface DownstreamSpec {
  /** Service time of a request on a healthy, idle server (ms). */
  readonly service: DistributionSpec;
  /** Requests served at once, per replica. Default unlimited. */
  readonly concurrency?: number;
  /** Most requests waiting for a server (all replicas); a full queue answers "overload". Default no limit. */
  readonly queue?: number;
  /** Service order of the waiting requests. Default `"fifo"`. */
  readonly order?: 'fifo' | 'lifo';
  /**
   * The caller's timeout for one call (ms): past it, the policy is told "timeout" and the caller stops
   * waiting, while the downstream goes on with the work (abandoned work still takes capacity). Default none.
   */
  readonly timeout?: number;
  /** Fraction of requests that fail with "error" in normal operation. Default 0. */
  readonly errorRate?: number;
  /**
   * Service-time stretch per other request in service: a request that starts with n others busy takes
   * `(1 + contention * n)` times longer (lock contention, CPU sharing). Default 0.
   */
  readonly contention?: number;
  /** Step changes of capacity over time. */
  readonly schedule?: readonly CapacityChange[];
  /** Injected failures. */
  readonly faults?: readonly FaultSpec[];
  /** Replicas, for scaling scenarios. Default one replica, always ready. */
  readonly replicas?: ReplicaSpec;
}

export interface CapacityChange {
  /** When the change takes effect (ms). */
  readonly at: number;
  /** New concurrency per replica (in-flight requests above it finish; none start until below). */
  readonly concurrency?: number;
  /** New speed: service times are divided by it (0.5 halves the capacity). */
  readonly speed?: number;
}

export interface ReplicaSpec {
  /** Replicas ready at the start. Default 1. */
  readonly count?: number;
  /** Delay before a new replica serves (ms, or a distribution). Default 0. */
  readonly startup?: DistributionSpec;
  /** Scheduled changes of the desired replica count. */
  readonly schedule?: readonly { readonly at: number; readonly count: number }[];
}

/** An injected failure, active over [at, at + duration). */
export type FaultSpec =
  /** Latency spike: service times of requests starting in the window become `work * factor + add`. */
  | {
      readonly type: 'latency';
      readonly at: number;
      readonly duration: number;
      /** Default 1. */
      readonly factor?: number;
      /** Added milliseconds. Default 0. */
      readonly add?: number;
      /** Fraction of requests affected. Default 1. */
      readonly fraction?: number;
    }
  /** Error burst: a fraction of requests starting in the window fail. */
  | {
      readonly type: 'errors';
      readonly at: number;
      readonly duration: number;
      /** Fraction that fails, in [0, 1]. */
      readonly rate: number;
      /** Time to fail (ms); default the request's normal service time. */
      readonly latency?: number;
      /** Which answer the failures give. Default `"error"`. */
      readonly as?: 'error' | 'overload';
    }
  /**
   * Outage. `"fail"`: every request fails after `latency` without taking a server. `"hang"`: requests that
   * start during the outage finish only after it ends. Afterwards, for `recovery` ms, service times are
   * stretched by a factor that falls linearly from `recoveryFactor` to 1 (cold caches, reconnections).
   */
  | {
      readonly type: 'outage';
      readonly at: number;
      readonly duration: number;
      /** Default `"fail"`. */
      readonly mode?: 'fail' | 'hang';
      /** Time to fail in `"fail"` mode (ms). Default 0. */
      readonly latency?: number;
      /** Answer given in `"fail"` mode. Default `"overload"` (a 503 from a proxy with no healthy backend). */
      readonly as?: 'error' | 'overload';
      /** Slow-recovery window after the outage (ms). Default 0. */
      readonly recovery?: number;
      /** Service-time factor at the start of recovery. Default 2. */
      readonly recoveryFactor?: number;
    };

/** What autoscaling policies (and reports) may read and do. */
export interface DownstreamControl {
  /** Requests that may be in service at once now (ready replicas x concurrency). */
  readonly capacity: number;
  /** Requests in service. */
  readonly busy: number;
  /** Requests waiting for a server. */
  readonly queued: number;
  /** Replicas serving. */
  readonly replicas: number;
  /** Replicas starting up. */
  readonly starting: number;
  /** Replicas asked for (serving + starting). */
  readonly desired: number;
  /** Asks for `count` replicas: new ones serve after their start-up delay; removed ones stop taking work. */
  scale(count: number): void;
}

/** How the downstream reports to the simulation. */
export interface DownstreamHooks {
  /** A request got a server after waiting `wait` ms in the downstream's queue. */
  started(request: Attempt, wait: number): void;
  /** The downstream answered. */
  responded(request: Attempt, response: Response): void;
}

interface Fault {
  readonly kind: 'latency' | 'errors' | 'outage';
  readonly at: number;
  readonly end: number;
  readonly factor: number;
  readonly add: number;
  readonly fraction: number;
  readonly rate: number;
  readonly latency: number;
  readonly as: Response;
  readonly hang: boolean;
  readonly recoveryEnd: number;
  readonly recoveryFactor: number;
}

/** @internal the downstream model; built by `simulate`. */
export class Downstream implements DownstreamControl {
  readonly service: Distribution;
  readonly timeout: number;
  readonly #engine: Engine;
  readonly #hooks: DownstreamHooks;
  readonly #random: Random;
  readonly #startup: Distribution;
  readonly #startupRandom: Random;
  readonly #queue = new Deque<Attempt>();
  readonly #queueMax: number;
  readonly #lifo: boolean;
  readonly #errorRate: number;
  readonly #contention: number;
  readonly #faults: readonly Fault[];
  #concurrency: number;
  #speed = 1;
  #busy = 0;
  #ready: number;
  readonly #starting: Timer[] = [];
  #capacity = 0;

  constructor(
    spec: unknown,
    path: string,
    engine: Engine,
    hooks: DownstreamHooks,
    random: Random,
    startupRandom: Random,
  ) {
    const s = object(path, spec, 'a downstream object ({ service, concurrency?, queue?, ... })');
    checkKeys(path, s, [
      'service',
      'concurrency',
      'queue',
      'order',
      'timeout',
      'errorRate',
      'contention',
      'schedule',
      'faults',
      'replicas',
    ]);
    const at = (k: string): string => join(path, k);
    if (s['service'] === undefined)
      throw new ConfigError(at('service'), undefined, 'a service-time distribution');
    this.service = distribution(s['service'], at('service'));
    this.#concurrency =
      s['concurrency'] === undefined ? Infinity : count(at('concurrency'), s['concurrency'], 1);
    this.#queueMax = s['queue'] === undefined ? Infinity : count(at('queue'), s['queue'], 0);
    this.#lifo = oneOf(at('order'), s['order'] ?? 'fifo', ['fifo', 'lifo'] as const) === 'lifo';
    this.timeout = s['timeout'] === undefined ? Infinity : positive(at('timeout'), s['timeout']);
    this.#errorRate = s['errorRate'] === undefined ? 0 : fraction(at('errorRate'), s['errorRate']);
    this.#contention = s['contention'] === undefined ? 0 : finite(at('contention'), s['contention'], 0);
    this.#faults =
      s['faults'] === undefined
        ? []
        : array(at('faults'), s['faults']).map((f, i) => fault(f, `${at('faults')}[${i}]`));
    this.#engine = engine;
    this.#hooks = hooks;
    this.#random = random;
    this.#startupRandom = startupRandom;

    const r = s['replicas'] === undefined ? {} : object(at('replicas'), s['replicas']);
    const rp = at('replicas');
    checkKeys(rp, r, ['count', 'startup', 'schedule']);
    this.#ready = r['count'] === undefined ? 1 : integer(join(rp, 'count'), r['count'], 0);
    this.#startup = distribution(r['startup'] ?? 0, join(rp, 'startup'));
    this.#capacity = this.#computeCapacity();

    const changes = s['schedule'] === undefined ? [] : array(at('schedule'), s['schedule']);
    changes.forEach((c, i) => {
      const cp = `${at('schedule')}[${i}]`;
      const o = object(cp, c, 'an object { at, concurrency?, speed? }');
      checkKeys(cp, o, ['at', 'concurrency', 'speed']);
      const when = finite(join(cp, 'at'), o['at'], 0);
      const conc =
        o['concurrency'] === undefined ? undefined : count(join(cp, 'concurrency'), o['concurrency'], 0);
      const speed = o['speed'] === undefined ? undefined : positive(join(cp, 'speed'), o['speed']);
      if (conc === undefined && speed === undefined)
        throw new ConfigError(cp, c, 'a change of concurrency or speed');
      engine.at(when, () => {
        if (conc !== undefined) this.#concurrency = conc;
        if (speed !== undefined) this.#speed = speed;
        this.#update();
      });
    });
    const scale = r['schedule'] === undefined ? [] : array(join(rp, 'schedule'), r['schedule']);
    scale.forEach((c, i) => {
      const cp = `${join(rp, 'schedule')}[${i}]`;
      const o = object(cp, c, 'an object { at, count }');
      checkKeys(cp, o, ['at', 'count']);
      const when = finite(join(cp, 'at'), o['at'], 0);
      const n = integer(join(cp, 'count'), o['count'], 0);
      engine.at(when, () => this.scale(n));
    });
  }

  get capacity(): number {
    return this.#capacity;
  }

  get busy(): number {
    return this.#busy;
  }

  get queued(): number {
    return this.#queue.size;
  }

  get replicas(): number {
    return this.#ready;
  }

  get starting(): number {
    return this.#starting.length;
  }

  get desired(): number {
    return this.#ready + this.#starting.length;
  }

  /** Per-replica concurrency now. */
  get concurrency(): number {
    return this.#concurrency;
  }

  scale(target: number): void {
    integer('replicas', target, 0);
    let desired = this.desired;
    while (desired > target && this.#starting.length > 0) {
      this.#starting.pop()!.cancel(); // the newest starter is the furthest from ready
      desired--;
    }
    while (desired > target) {
      this.#ready--;
      desired--;
    }
    while (desired < target) {
      const delay = this.#startup.sample(this.#startupRandom);
      const timer: Timer = this.#engine.after(delay, () => {
        const i = this.#starting.indexOf(timer);
        if (i >= 0) this.#starting.splice(i, 1);
        this.#ready++;
        this.#update();
      });
      this.#starting.push(timer);
      desired++;
    }
    this.#update();
  }

  /** Takes a request admitted by the policy. It is answered later through `hooks.responded`. */
  submit(request: Attempt): void {
    const now = this.#engine.now;
    const outage = this.#outage(now);
    if (outage !== undefined && !outage.hang) {
      this.#answerSoon(request, outage.as, outage.latency);
    } else if (this.#busy < this.#capacity) {
      this.#start(request, now);
    } else if (this.#queue.size < this.#queueMax) {
      this.#queue.push(request);
    } else {
      this.#answerSoon(request, 'overload', 0);
    }
  }

  #start(request: Attempt, now: number): void {
    const hooks = this.#hooks;
    request.startedAt = now;
    hooks.started(request, now - request.admittedAt);
    let t = request.work / this.#speed;
    if (this.#contention > 0) t *= 1 + this.#contention * this.#busy;
    let response: Response = request.forced ?? 'success';
    if (response === 'success' && this.#errorRate > 0 && this.#random.next() < this.#errorRate)
      response = 'error';
    for (const f of this.#faults) {
      if (now < f.at || now >= f.recoveryEnd) continue;
      if (now >= f.end) {
        // Slow recovery after an outage: the stretch fades linearly to nothing.
        t *= 1 + (f.recoveryFactor - 1) * (1 - (now - f.end) / (f.recoveryEnd - f.end));
        continue;
      }
      switch (f.kind) {
        case 'latency':
          if (f.fraction >= 1 || this.#random.next() < f.fraction) t = t * f.factor + f.add;
          break;
        case 'errors':
          if (response === 'success' && this.#random.next() < f.rate) {
            response = f.as;
            if (!Number.isNaN(f.latency)) t = f.latency;
          }
          break;
        case 'outage':
          if (f.hang) t += f.end - now;
          break;
      }
    }
    this.#busy++;
    this.#engine.after(t, () => this.#finish(request, response));
  }

  #finish(request: Attempt, response: Response): void {
    this.#busy--;
    this.#hooks.responded(request, response);
    this.#dispatch();
  }

  #answerSoon(request: Attempt, response: Response, delay: number): void {
    this.#engine.after(delay, () => this.#hooks.responded(request, response));
  }

  #dispatch(): void {
    const queue = this.#queue;
    if (queue.size === 0) return;
    const now = this.#engine.now;
    while (queue.size > 0 && this.#busy < this.#capacity) {
      const next = (this.#lifo ? queue.pop() : queue.shift())!;
      const outage = this.#outage(now);
      if (outage !== undefined && !outage.hang) this.#answerSoon(next, outage.as, outage.latency);
      else this.#start(next, now);
    }
  }

  #outage(now: number): Fault | undefined {
    for (const f of this.#faults) if (f.kind === 'outage' && now >= f.at && now < f.end) return f;
    return undefined;
  }

  #computeCapacity(): number {
    return this.#ready === 0 ? 0 : this.#ready * this.#concurrency;
  }

  #update(): void {
    this.#capacity = this.#computeCapacity();
    this.#dispatch();
  }
}

function count(path: string, value: unknown, min: number): number {
  if (value === Infinity) return Infinity;
  return integer(path, value, min);
}

function fault(spec: unknown, path: string): Fault {
  const f = object(path, spec, 'a fault object ({ type, at, duration, ... })');
  const at = (k: string): string => join(path, k);
  const type = oneOf(at('type'), f['type'], ['latency', 'errors', 'outage'] as const);
  const common = ['type', 'at', 'duration'];
  const start = finite(at('at'), f['at'], 0);
  const end = start + nonNegative(at('duration'), f['duration']);
  const base = {
    kind: type,
    at: start,
    end,
    factor: 1,
    add: 0,
    fraction: 1,
    rate: 0,
    latency: Number.NaN,
    as: 'error' as Response,
    hang: false,
    recoveryEnd: end,
    recoveryFactor: 1,
  };
  switch (type) {
    case 'latency':
      checkKeys(path, f, [...common, 'factor', 'add', 'fraction']);
      return {
        ...base,
        factor: f['factor'] === undefined ? 1 : finite(at('factor'), f['factor'], 0),
        add: f['add'] === undefined ? 0 : finite(at('add'), f['add'], 0),
        fraction: f['fraction'] === undefined ? 1 : fraction(at('fraction'), f['fraction']),
      };
    case 'errors':
      checkKeys(path, f, [...common, 'rate', 'latency', 'as']);
      return {
        ...base,
        rate: fraction(at('rate'), f['rate']),
        latency: f['latency'] === undefined ? Number.NaN : finite(at('latency'), f['latency'], 0),
        as: oneOf(at('as'), f['as'] ?? 'error', ['error', 'overload'] as const),
      };
    case 'outage': {
      checkKeys(path, f, [...common, 'mode', 'latency', 'as', 'recovery', 'recoveryFactor']);
      const recovery = f['recovery'] === undefined ? 0 : finite(at('recovery'), f['recovery'], 0);
      return {
        ...base,
        hang: oneOf(at('mode'), f['mode'] ?? 'fail', ['fail', 'hang'] as const) === 'hang',
        latency: f['latency'] === undefined ? 0 : finite(at('latency'), f['latency'], 0),
        as: oneOf(at('as'), f['as'] ?? 'overload', ['error', 'overload'] as const),
        recoveryEnd: end + recovery,
        recoveryFactor:
          f['recoveryFactor'] === undefined ? 2 : finite(at('recoveryFactor'), f['recoveryFactor'], 1),
      };
    }
  }
}
