import type { Timer } from '../../src/core/clock.ts';
import type { VirtualClock } from '../../src/core/virtual-clock.ts';
import type { Limit, LimitChange } from '../../src/limits/limit.ts';

/**
 * A deterministic downstream and client on a VirtualClock, for convergence tests of the limit algorithms.
 *
 * The server has `capacity` slots; a request takes a service time (lognormal around `serviceMs`, from a seeded
 * PRNG); requests beyond the slots wait in the server's FIFO queue, so latency rises with overload. The client
 * admits a request while in flight < `limit.current` (a minimal gate standing in for the limiter), gives up on
 * a request after `timeoutMs` (a drop; the server then skips it if still queued, or finishes it in vain), and
 * feeds every outcome to the limit.
 */

/** mulberry32: a small seeded PRNG with uniform output in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Job {
  readonly abandoned: boolean;
  served(): void;
}

export interface ServerOptions {
  /** Requests served at once. */
  readonly capacity: number;
  /** Median service time (ms). */
  readonly serviceMs: number;
  /** Spread of the lognormal service time (sigma of its log); 0 for a constant. Default 0. */
  readonly sigma?: number;
  /** PRNG seed. Default 1. */
  readonly seed?: number;
}

export class Server {
  /** Median service time (ms); change it to model a lasting change in the downstream's own latency. */
  serviceMs: number;
  readonly #clock: VirtualClock;
  readonly #sigma: number;
  readonly #random: () => number;
  #capacity: number;
  #busy = 0;
  #queue: Job[] = [];
  #head = 0;

  constructor(clock: VirtualClock, options: ServerOptions) {
    this.#clock = clock;
    this.#capacity = options.capacity;
    this.serviceMs = options.serviceMs;
    this.#sigma = options.sigma ?? 0;
    this.#random = prng(options.seed ?? 1);
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Changes the slots; requests in service finish, and queued ones start as slots free up. */
  set capacity(slots: number) {
    this.#capacity = slots;
    this.#next();
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  submit(job: Job): void {
    if (this.#busy < this.#capacity && this.queued === 0) this.#start(job);
    else this.#queue.push(job);
  }

  #start(job: Job): void {
    this.#busy++;
    this.#clock.setTimer(() => {
      this.#busy--;
      this.#next();
      job.served();
    }, this.#serviceTime());
  }

  #next(): void {
    while (this.#busy < this.#capacity && this.#head < this.#queue.length) {
      const job = this.#queue[this.#head++]!;
      if (!job.abandoned) this.#start(job);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #serviceTime(): number {
    if (this.#sigma === 0) return this.serviceMs;
    // Box-Muller; 1 - u keeps the logarithm finite.
    const z = Math.sqrt(-2 * Math.log(1 - this.#random())) * Math.cos(2 * Math.PI * this.#random());
    return this.serviceMs * Math.exp(this.#sigma * z);
  }
}

class Request implements Job {
  readonly start: number;
  readonly inflight: number;
  readonly #client: Client;
  abandoned = false;
  settled = false;

  constructor(client: Client, start: number, inflight: number) {
    this.#client = client;
    this.start = start;
    this.inflight = inflight;
  }

  served(): void {
    this.#client.settle(this, false);
  }
}

export interface ClientOptions {
  /** Limit that gates admission and learns from every outcome. */
  readonly limit: Limit;
  /** The client gives up after this long (ms) and reports a drop. Default 1000. */
  readonly timeoutMs?: number;
  /** PRNG seed for open-loop arrivals. Default 7. */
  readonly seed?: number;
}

export class Client {
  readonly limit: Limit;
  inflight = 0;
  /** Open-loop arrivals turned away at the gate. */
  rejected = 0;
  completed = 0;
  dropped = 0;
  readonly #clock: VirtualClock;
  readonly #server: Server;
  readonly #timeout: number;
  readonly #random: () => number;
  // Requests in start order; all share one timeout, so they expire in this order too.
  #pending: Request[] = [];
  #head = 0;
  #expiry: Timer | undefined;
  #waiting = 0;
  #callers = 0;
  #arrivals: Timer | undefined;

  constructor(clock: VirtualClock, server: Server, options: ClientOptions) {
    this.#clock = clock;
    this.#server = server;
    this.limit = options.limit;
    this.#timeout = options.timeoutMs ?? 1000;
    this.#random = prng(options.seed ?? 7);
    this.limit.onChange(() => this.#pump());
  }

  /** Adds `n` closed-loop callers: each sends, waits for the outcome (queued at the gate if need be), repeats. */
  closedLoop(n: number): void {
    this.#callers += n;
    this.#waiting += n;
    this.#pump();
  }

  /** Poisson arrivals at `perSecond` (0 stops them); an arrival at a full gate is rejected, not queued. */
  openLoop(perSecond: number): void {
    this.#arrivals?.cancel();
    this.#arrivals = undefined;
    if (perSecond <= 0) return;
    const arrive = (): void => {
      if (this.inflight < this.limit.current) this.#send();
      else this.rejected++;
      this.#arrivals = this.#clock.setTimer(arrive, (-Math.log(1 - this.#random()) * 1000) / perSecond);
    };
    this.#arrivals = this.#clock.setTimer(arrive, (-Math.log(1 - this.#random()) * 1000) / perSecond);
  }

  /** @internal called by a request when served or timed out. */
  settle(request: Request, timedOut: boolean): void {
    if (request.settled) return;
    request.settled = true;
    request.abandoned = timedOut;
    this.inflight--;
    if (timedOut) this.dropped++;
    else this.completed++;
    const now = this.#clock.now();
    this.limit.update({ now, rtt: now - request.start, inflight: request.inflight, dropped: timedOut });
    if (this.#callers > 0) this.#waiting++;
    this.#pump();
  }

  #pump(): void {
    while (this.#waiting > 0 && this.inflight < this.limit.current) {
      this.#waiting--;
      this.#send();
    }
  }

  #send(): void {
    const request = new Request(this, this.#clock.now(), ++this.inflight);
    this.#pending.push(request);
    if (this.#expiry === undefined) this.#armExpiry();
    this.#server.submit(request);
  }

  #armExpiry(): void {
    while (this.#head < this.#pending.length && this.#pending[this.#head]!.settled) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    const oldest = this.#pending[this.#head];
    this.#expiry =
      oldest === undefined
        ? undefined
        : this.#clock.setTimer(() => this.#expire(), oldest.start + this.#timeout - this.#clock.now());
  }

  #expire(): void {
    const now = this.#clock.now();
    for (let r = this.#pending[this.#head]; r !== undefined; r = this.#pending[this.#head]) {
      if (!r.settled && r.start + this.#timeout > now) break;
      this.#head++;
      if (!r.settled) this.settle(r, true);
    }
    this.#armExpiry();
  }
}

export interface TracePoint {
  /** Virtual time (ms). */
  readonly t: number;
  readonly limit: number;
  /** True while a probe holds the limit lowered (between a lowering and a restoring `probe` change). */
  readonly probing: boolean;
}

/** Follows a limit's changes, to tell probe dips from the algorithm's settled level. */
export class Trace {
  readonly points: TracePoint[] = [];
  readonly changes: (LimitChange & { readonly t: number })[] = [];
  #probing = false;
  readonly #clock: VirtualClock;
  readonly #limit: Limit;

  constructor(clock: VirtualClock, limit: Limit) {
    this.#clock = clock;
    this.#limit = limit;
    limit.onChange((change) => {
      this.changes.push({ ...change, t: clock.now() });
      this.#probing = change.rule === 'probe' && change.limit < change.previous;
    });
  }

  /** Advances the clock by `ms`, recording the limit every `every` ms. */
  run(ms: number, every = 50): void {
    const end = this.#clock.now() + ms;
    while (this.#clock.now() < end) {
      this.#clock.advance(Math.min(every, end - this.#clock.now()));
      this.points.push({ t: this.#clock.now(), limit: this.#limit.current, probing: this.#probing });
    }
  }

  /** Points in [from, to), optionally without the ones inside a probe. */
  between(from: number, to: number, withProbes = false): TracePoint[] {
    return this.points.filter((p) => p.t >= from && p.t < to && (withProbes || !p.probing));
  }

  /** First time at or after `from` when the limit was within `tolerance` (a fraction) of `target`. */
  reached(from: number, target: number, tolerance: number): number | undefined {
    return this.points.find((p) => p.t >= from && Math.abs(p.limit - target) <= tolerance * target)?.t;
  }
}
