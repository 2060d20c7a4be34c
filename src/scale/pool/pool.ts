import { availableParallelism } from 'node:os';
import { type Clock, systemClock, type Timer } from '../../core/clock.ts';
import { ConfigError, RejectedError, type RejectReason } from '../../core/errors.ts';
import { Events } from '../../core/events.ts';
import { func, integer, or, positive } from '../../core/validate.ts';
import { Ewma } from '../../signals/ewma.ts';
import { LatencyWindow } from '../../signals/latency-window.ts';
import { RateMeter } from '../../signals/rate.ts';
import type { Actuator, Capacity, Collector, Readings } from '../types.ts';
import { PoolClosedError } from './errors.ts';
import { type Level, type QueueNode, TaskQueue } from './queue.ts';
import { moduleUrl, threadWorkers } from './thread.ts';
import type {
  AsyncPoolOptions,
  CloseOptions,
  Handler,
  Pool,
  PoolEvents,
  PoolOptions,
  PoolSnapshot,
  RetireReason,
  SubmitOptions,
  Task,
  TaskContext,
  TaskPool,
  ThreadPoolOptions,
} from './types.ts';
import { asyncWorkers, type WorkerFactory, type WorkerHandle } from './worker.ts';

/**
 * Creates a dynamic worker pool: async workers (a `run` handler, or `Task` functions) or worker threads
 * (`worker.module`). Invalid options throw a `ConfigError`.
 *
 * ```ts
 * const pool = createPool({ min: 1, max: 8, worker: { module: new URL('./thumbnail.js', import.meta.url) } });
 * const png = await pool.submit({ path: 'a.jpg', width: 320 });
 * pool.resize(4); // or let an autoscaler drive pool.actuator from pool.collector
 * ```
 */
export function createPool<P = unknown, R = unknown>(options: ThreadPoolOptions): Pool<P, R>;
export function createPool<P, R>(
  options: AsyncPoolOptions<P, R> & { readonly run: Handler<P, R> },
): Pool<P, R>;
export function createPool(options?: AsyncPoolOptions<never, never> & { readonly run?: undefined }): TaskPool;
export function createPool<P, R>(options: PoolOptions<P, R> = {}): Pool<P, R> {
  return new WorkerPool<P, R>(options);
}

/** First delay before replacing a thread that failed to start; doubles per consecutive failure. */
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 10_000;
/** Retry-after hint when no task has finished yet to estimate service time from. */
const DEFAULT_RETRY_MS = 1000;

type SlotState = 'starting' | 'idle' | 'busy' | 'gone';

class Slot<P, R> {
  readonly id: number;
  readonly startedAt: number;
  state: SlotState = 'starting';
  /** Set only while busy: the worker leaves once its task settles. */
  retiring = false;
  job: Job<P, R> | undefined = undefined;
  handle: WorkerHandle<P, R> | undefined = undefined;

  constructor(id: number, startedAt: number) {
    this.id = id;
    this.startedAt = startedAt;
  }
}

class Job<P, R> implements QueueNode {
  prev: this | undefined = undefined;
  next: this | undefined = undefined;
  level: Level<this> | undefined = undefined;
  readonly payload: P;
  readonly priority: number;
  readonly enqueuedAt: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
  startedAt = Number.NaN;
  settled = false;
  onAbort: (() => void) | undefined = undefined;
  timer: Timer | undefined = undefined;

  constructor(
    payload: P,
    priority: number,
    enqueuedAt: number,
    signal: AbortSignal | undefined,
    resolve: (value: R) => void,
    reject: (error: unknown) => void,
  ) {
    this.payload = payload;
    this.priority = priority;
    this.enqueuedAt = enqueuedAt;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
  }
}

/**
 * Invariants, restored before any public call returns and before any callback ends:
 * - a queued task implies no idle worker (every dispatch path ends in `#pump`);
 * - a task starts only on an idle worker that is not retiring, so tasks running on non-retiring workers
 *   never exceed the target (retiring workers are busy by definition: idle ones are stopped at once);
 * - a job settles exactly once (`#settle` checks `settled`), and leaves the queue before it starts.
 */
class WorkerPool<P, R> implements Pool<P, R> {
  readonly name: string;
  readonly kind: 'async' | 'thread';
  readonly min: number;
  readonly max: number;
  readonly actuator: Actuator;
  readonly collector: Collector;

  readonly #clock: Clock;
  readonly #factory: WorkerFactory<P, R>;
  readonly #events: Events<PoolEvents>;
  readonly #queue = new TaskQueue<Job<P, R>>();
  readonly #queueSize: number;
  readonly #queueTimeout: number;

  #target: number;
  readonly #workers = new Set<Slot<P, R>>();
  /** Idle workers, most recently used last: dispatch takes the warmest, shrinking stops the coldest. */
  readonly #idle: Slot<P, R>[] = [];
  #starting = 0;
  #busy = 0;
  #retiring = 0;
  #nextId = 1;
  #pumping = false;

  #state: 'open' | 'draining' | 'closed' = 'open';
  #closed: PromiseWithResolvers<void> | undefined;
  readonly #closeTimers: Timer[] = [];
  readonly #stopping = new Set<Promise<void>>();
  /** Aborted when `close({ timeoutMs })` gives up on running tasks. */
  readonly #giveUp = new AbortController();
  #startFailures = 0;
  #restartTimer: Timer | undefined;

  readonly #arrivals: RateMeter;
  readonly #completions: RateMeter;
  readonly #waits: LatencyWindow;
  readonly #service: LatencyWindow;
  readonly #serviceEwma = new Ewma({ alpha: 0.2 });
  /** Integrals of busy and serving workers over time since the previous collect, for utilisation. */
  #busyArea = 0;
  #servingArea = 0;
  #lastAt: number;

  constructor(options: PoolOptions<P, R>) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an object');
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock.now !== 'function' || typeof this.#clock.setTimer !== 'function') {
      throw new ConfigError('clock', options.clock, 'a Clock (now and setTimer)');
    }
    const name = or(options.name, 'pool');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;

    const given: { readonly run?: unknown; readonly worker?: unknown } = options;
    if (given.worker !== undefined && given.run !== undefined) {
      throw new ConfigError('run', given.run, 'unset when worker is set (threads run the module export)');
    }
    if (options.worker !== undefined) {
      this.kind = 'thread';
      this.#factory = threadWorkers<P, R>(this.#threadSettings(options.worker));
    } else {
      this.kind = 'async';
      const run = options.run === undefined ? callTask : func<Handler<P, R>>('run', options.run);
      this.#factory = asyncWorkers(run as Handler<P, R>);
    }

    this.min = integer('min', or(options.min, 1), 0);
    const cores = this.kind === 'thread' ? availableParallelism() : 10;
    this.max = integer('max', or(options.max, Math.max(this.min, cores)), Math.max(this.min, 1));
    this.#target = integer('size', or(options.size, this.min), this.min, this.max);

    const queue = options.queue ?? {};
    if (typeof queue !== 'object' || queue === null) throw new ConfigError('queue', queue, 'an object');
    this.#queueSize = integer('queue.size', or(queue.size, 1000), 0);
    const timeout = or(queue.timeout, Number.POSITIVE_INFINITY);
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      throw new ConfigError('queue.timeout', timeout, 'a number > 0 (Infinity allowed)');
    }
    this.#queueTimeout = timeout;

    const window = positive('window', or(options.window, 10_000));
    this.#arrivals = new RateMeter({ window });
    this.#completions = new RateMeter({ window });
    this.#waits = new LatencyWindow({ window });
    this.#service = new LatencyWindow({ window });
    this.#events = new Events<PoolEvents>('pool');
    this.#lastAt = this.#clock.now();

    this.actuator = {
      name,
      capacity: (): Capacity => ({
        desired: this.#state === 'closed' ? 0 : this.#target,
        ready: this.#readyCount(),
      }),
      scale: (replicas: number): void => {
        this.resize(replicas);
      },
    };
    this.collector = { name, collect: () => this.#collect() };

    this.#reconcile();
  }

  get size(): number {
    return this.#target;
  }

  submit(payload: P, options?: SubmitOptions): Promise<R> {
    const priority = options?.priority ?? 0;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      throw new RangeError(`sluice: pool "${this.name}": priority must be a finite number, got ${priority}`);
    }
    const now = this.#clock.now();
    this.#arrivals.mark(now);
    if (this.#state !== 'open') return Promise.reject(this.#refuse(new PoolClosedError(this.name, 'submit')));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(this.#rejection('aborted', 0, priority));
    const canStart = this.#idle.length > 0 && this.#queue.size === 0;
    if (!canStart && this.#queue.size >= this.#queueSize) {
      return Promise.reject(this.#rejection('queue-full', 0, priority));
    }
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    const job = new Job<P, R>(payload, priority, now, signal, resolve, reject);
    if (canStart) {
      this.#start(this.#idle[this.#idle.length - 1]!, job);
      return promise;
    }
    this.#queue.push(job);
    if (signal !== undefined) {
      job.onAbort = () => this.#dequeueRejected(job, 'aborted');
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    if (this.#queueTimeout < Number.POSITIVE_INFINITY) {
      const expire = () => this.#dequeueRejected(job, 'queue-timeout');
      job.timer = this.#clock.setTimer(expire, this.#queueTimeout, { ref: false });
    }
    return promise;
  }

  resize(size: number): number {
    if (typeof size !== 'number' || !(Number.isInteger(size) || size === Infinity || size === -Infinity)) {
      throw new RangeError(`sluice: pool "${this.name}": size must be an integer, got ${String(size)}`);
    }
    if (this.#state === 'closed') return this.#target;
    const previous = this.#target;
    this.#target = Math.min(this.max, Math.max(this.min, size));
    const change = this.#reconcile();
    const acted = change.started + change.unretired + change.retired + change.draining > 0;
    if ((previous !== this.#target || acted) && this.#events.wants('resize')) {
      this.#events.emit('resize', {
        pool: this.name,
        at: this.#clock.now(),
        previous,
        size: this.#target,
        requested: size,
        ...change,
      });
    }
    this.#pump();
    return this.#target;
  }

  close(options?: CloseOptions): Promise<void> {
    const drain = or(options?.drain, true);
    if (typeof drain !== 'boolean') throw new ConfigError('drain', drain, 'a boolean');
    const timeoutMs = or(options?.timeoutMs, Number.POSITIVE_INFINITY);
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      throw new ConfigError('timeoutMs', timeoutMs, 'a number >= 0 (Infinity allowed)');
    }
    if (this.#closed === undefined) {
      this.#closed = Promise.withResolvers<void>();
      this.#state = 'draining';
      // A pool scaled to zero still needs a worker to drain its queue.
      this.#reconcile();
    }
    if (this.#state === 'draining') {
      if (!drain) this.#refuseQueued();
      if (timeoutMs < Number.POSITIVE_INFINITY) {
        this.#closeTimers.push(this.#clock.setTimer(() => this.#abandon(), timeoutMs));
      }
      this.#pump();
      this.#checkDrained();
    }
    return this.#closed.promise;
  }

  snapshot(): PoolSnapshot {
    const oldest = this.#queue.oldest();
    return {
      size: this.#target,
      starting: this.#starting,
      ready: this.#readyCount(),
      idle: this.#idle.length,
      busy: this.#busy,
      retiring: this.#retiring,
      queued: this.#queue.size,
      oldestWaitMs: oldest === undefined ? 0 : this.#clock.now() - oldest.enqueuedAt,
      state: this.#state,
    };
  }

  on<K extends keyof PoolEvents & string>(name: K, listener: (event: PoolEvents[K]) => void): () => void {
    return this.#events.on(name, listener);
  }

  // ---- dispatch ----

  /** Starts queued tasks on idle workers. Re-entrant calls (a task that submits) leave it to the outer loop. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.size > 0 && this.#idle.length > 0) {
        const job = this.#queue.shift()!;
        this.#detach(job);
        this.#start(this.#idle[this.#idle.length - 1]!, job);
      }
    } finally {
      this.#pumping = false;
    }
    this.#checkDrained();
  }

  #start(slot: Slot<P, R>, job: Job<P, R>): void {
    const now = this.#clock.now();
    this.#move(slot, 'busy');
    slot.job = job;
    job.startedAt = now;
    this.#waits.record(now - job.enqueuedAt, now);
    let context: TaskContext | undefined;
    if (this.#factory.usesContext) {
      const signal =
        job.signal === undefined ? this.#giveUp.signal : AbortSignal.any([job.signal, this.#giveUp.signal]);
      context = { signal, worker: slot.id };
    }
    let running: Promise<R>;
    try {
      running = slot.handle!.run(job.payload, context);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => this.#done(slot, job, true, value),
      (error: unknown) => this.#done(slot, job, false, error),
    );
  }

  #done(slot: Slot<P, R>, job: Job<P, R>, ok: boolean, value: unknown): void {
    // Given up on by `close({ timeoutMs })`: already rejected, and the pool is closed.
    if (job.settled) return;
    const now = this.#clock.now();
    this.#completions.mark(now);
    const ran = now - job.startedAt;
    this.#service.record(ran, now);
    this.#serviceEwma.update(ran, now);
    slot.job = undefined;
    // A worker that crashed under its task is already gone; the rejection comes from its backend.
    if (slot.state === 'busy') {
      if (slot.retiring) this.#retire(slot, 'drained');
      else this.#move(slot, 'idle');
    }
    if (ok) this.#settle(job, true, value);
    else this.#settle(job, false, value);
    this.#pump();
  }

  #settle(job: Job<P, R>, ok: boolean, value: unknown): void {
    if (job.settled) return;
    job.settled = true;
    if (ok) job.resolve(value as R);
    else job.reject(value);
  }

  #detach(job: Job<P, R>): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort);
    job.onAbort = undefined;
    job.timer?.cancel();
    job.timer = undefined;
  }

  /** Takes a queued job out (aborted or timed out) and rejects it; nothing if it already left the queue. */
  #dequeueRejected(job: Job<P, R>, reason: 'aborted' | 'queue-timeout'): void {
    if (!this.#queue.remove(job)) return;
    this.#detach(job);
    const now = this.#clock.now();
    this.#settle(job, false, this.#rejection(reason, now - job.enqueuedAt, job.priority));
    this.#checkDrained();
  }

  // ---- workers ----

  /**
   * Starts, keeps, stops or marks workers until those not retiring match the target. Counts are re-read
   * on every step, so a listener that resizes from inside an event leaves the pool consistent.
   */
  #reconcile(): { started: number; unretired: number; retired: number; draining: number } {
    const change = { started: 0, unretired: 0, retired: 0, draining: 0 };
    if (this.#state === 'closed') return change;
    if (this.#active() < this.#effectiveTarget()) {
      // Keeping a busy worker that was to retire costs nothing; a new one costs a start-up.
      for (const slot of this.#workers) {
        if (this.#active() >= this.#effectiveTarget()) break;
        if (slot.retiring) {
          slot.retiring = false;
          this.#retiring--;
          change.unretired++;
        }
      }
      // A thread that failed to start is replaced only after its back-off.
      while (this.#restartTimer === undefined && this.#active() < this.#effectiveTarget()) {
        this.#spawn();
        change.started++;
      }
      return change;
    }
    // Shrinking: workers still starting first (no warm capacity lost), then the coldest idle ones, then
    // busy ones are marked to leave after their task, newest first.
    const newestFirst = [...this.#workers].reverse();
    for (const slot of newestFirst) {
      if (this.#active() <= this.#effectiveTarget()) return change;
      if (slot.state === 'starting') {
        this.#retire(slot, 'starting');
        change.retired++;
      }
    }
    while (this.#idle.length > 0 && this.#active() > this.#effectiveTarget()) {
      this.#retire(this.#idle[0]!, 'idle');
      change.retired++;
    }
    for (const slot of newestFirst) {
      if (this.#active() <= this.#effectiveTarget()) return change;
      if (slot.state === 'busy' && !slot.retiring) {
        slot.retiring = true;
        this.#retiring++;
        change.draining++;
      }
    }
    return change;
  }

  #spawn(): void {
    const id = this.#nextId++;
    const slot = new Slot<P, R>(id, this.#clock.now());
    this.#workers.add(slot);
    this.#starting++;
    slot.handle = this.#factory.start(id, {
      ready: () => {
        this.#ready(slot);
        this.#pump();
      },
      exited: (error) => this.#exited(slot, error),
    });
    if (this.#factory.immediate) this.#ready(slot);
  }

  #ready(slot: Slot<P, R>): void {
    if (slot.state !== 'starting') return;
    this.#move(slot, 'idle');
    this.#startFailures = 0;
    if (this.#events.wants('ready')) {
      const at = this.#clock.now();
      this.#events.emit('ready', { pool: this.name, at, worker: slot.id, startupMs: at - slot.startedAt });
    }
  }

  #exited(slot: Slot<P, R>, error: unknown): void {
    if (slot.state === 'gone') return;
    const phase = slot.state === 'starting' ? 'start' : slot.state === 'busy' ? 'task' : 'idle';
    this.#move(slot, 'gone');
    const needed = this.#state !== 'closed' && this.#active() < this.#effectiveTarget();
    let restartInMs: number | undefined;
    if (phase === 'start') {
      // Back off only while starts keep failing (a module that cannot load), so crashes cannot spin.
      this.#startFailures++;
      if (needed) {
        restartInMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (this.#startFailures - 1));
        this.#restartTimer?.cancel();
        this.#restartTimer = this.#clock.setTimer(
          () => {
            this.#restartTimer = undefined;
            this.#reconcile();
            this.#pump();
          },
          restartInMs,
          { ref: false },
        );
      }
    } else if (needed) {
      restartInMs = 0;
    }
    if (this.#events.wants('crash')) {
      const at = this.#clock.now();
      this.#events.emit('crash', { pool: this.name, at, worker: slot.id, phase, error, restartInMs });
    }
    if (phase !== 'start') this.#reconcile();
  }

  #retire(slot: Slot<P, R>, reason: RetireReason): void {
    this.#move(slot, 'gone');
    const stopped = slot.handle?.stop();
    if (stopped !== undefined) {
      this.#stopping.add(stopped);
      void stopped.then(() => this.#stopping.delete(stopped));
    }
    if (this.#events.wants('retire')) {
      this.#events.emit('retire', { pool: this.name, at: this.#clock.now(), worker: slot.id, reason });
    }
  }

  /** Moves a worker between states, keeping the counters and the utilisation integrals exact. */
  #move(slot: Slot<P, R>, next: SlotState): void {
    this.#integrate();
    switch (slot.state) {
      case 'starting':
        this.#starting--;
        break;
      case 'idle':
        this.#idle.splice(this.#idle.lastIndexOf(slot), 1);
        break;
      case 'busy':
        this.#busy--;
        if (slot.retiring) {
          slot.retiring = false;
          this.#retiring--;
        }
        break;
      case 'gone':
        return;
    }
    switch (next) {
      case 'starting':
        this.#starting++;
        break;
      case 'idle':
        this.#idle.push(slot);
        break;
      case 'busy':
        this.#busy++;
        break;
      case 'gone':
        this.#workers.delete(slot);
        break;
    }
    slot.state = next;
  }

  /** Workers not retiring: starting, idle, and busy without a retirement mark. */
  #active(): number {
    return this.#starting + this.#idle.length + this.#busy - this.#retiring;
  }

  #readyCount(): number {
    return this.#idle.length + this.#busy - this.#retiring;
  }

  #effectiveTarget(): number {
    return this.#state === 'draining' && this.#queue.size > 0 ? Math.max(this.#target, 1) : this.#target;
  }

  // ---- closing ----

  #checkDrained(): void {
    if (this.#state === 'draining' && this.#queue.size === 0 && this.#busy === 0) this.#shutdown();
  }

  #refuseQueued(): void {
    for (const job of this.#queue.drain()) {
      this.#detach(job);
      this.#settle(job, false, this.#refuse(new PoolClosedError(this.name, 'queued')));
    }
  }

  /** `close({ timeoutMs })` ran out: refuse the queue, give up on running tasks, stop. */
  #abandon(): void {
    if (this.#state !== 'draining') return;
    this.#refuseQueued();
    for (const slot of this.#workers) {
      const job = slot.job;
      if (job !== undefined) this.#settle(job, false, new PoolClosedError(this.name, 'running'));
    }
    this.#giveUp.abort(new PoolClosedError(this.name, 'running'));
    this.#shutdown();
  }

  #shutdown(): void {
    this.#state = 'closed';
    this.#restartTimer?.cancel();
    this.#restartTimer = undefined;
    for (const timer of this.#closeTimers) timer.cancel();
    for (const slot of [...this.#workers]) {
      slot.job = undefined;
      this.#retire(slot, 'close');
    }
    const closed = this.#closed!;
    void Promise.all(this.#stopping).then(() => closed.resolve());
  }

  // ---- signals ----

  #integrate(): void {
    const now = this.#clock.now();
    const dt = now - this.#lastAt;
    if (dt <= 0) return;
    this.#busyArea += this.#busy * dt;
    this.#servingArea += (this.#idle.length + this.#busy) * dt;
    this.#lastAt = now;
  }

  #collect(): Readings {
    const now = this.#clock.now();
    this.#integrate();
    const serving = this.#idle.length + this.#busy;
    const utilisation =
      this.#servingArea > 0 ? this.#busyArea / this.#servingArea : serving > 0 ? this.#busy / serving : 0;
    this.#busyArea = 0;
    this.#servingArea = 0;
    const waits = this.#waits.snapshot(now);
    const service = this.#service.snapshot(now);
    const oldest = this.#queue.oldest();
    return {
      queued: this.#queue.size,
      busy: this.#busy,
      size: this.#target,
      ready: this.#readyCount(),
      starting: this.#starting,
      retiring: this.#retiring,
      utilisation,
      arrivalRate: this.#arrivals.rate(now),
      completionRate: this.#completions.rate(now),
      waitMeanMs: waits.count > 0 ? waits.mean : 0,
      waitP99Ms: waits.count > 0 ? waits.p99 : 0,
      oldestWaitMs: oldest === undefined ? 0 : now - oldest.enqueuedAt,
      serviceMeanMs: service.count > 0 ? service.mean : 0,
    };
  }

  // ---- errors ----

  #rejection(reason: RejectReason, waitedMs: number, priority?: number): RejectedError {
    const queued = this.#queue.size;
    const ready = Math.max(1, this.#readyCount());
    const service = this.#serviceEwma.samples > 0 ? this.#serviceEwma.value : DEFAULT_RETRY_MS;
    // Time for the queue ahead to drain through the ready workers.
    const retryAfterMs = Math.ceil((service * (queued + 1)) / ready);
    const error = new RejectedError(reason, {
      limit: this.#target,
      inflight: this.#busy,
      queued,
      retryAfterMs,
      waitedMs,
      ...(priority === undefined ? {} : { priority }),
    });
    return this.#refuse(error);
  }

  #refuse<E extends RejectedError | PoolClosedError>(error: E): E {
    if (this.#events.wants('reject')) {
      this.#events.emit('reject', { pool: this.name, at: this.#clock.now(), error });
    }
    return error;
  }

  #threadSettings(worker: ThreadPoolOptions['worker']) {
    if (typeof worker !== 'object' || worker === null) throw new ConfigError('worker', worker, 'an object');
    const module = worker.module;
    if (!(module instanceof URL) && (typeof module !== 'string' || module === '')) {
      throw new ConfigError('worker.module', module, 'a file URL or a non-empty path');
    }
    const exportName = or(worker.export, 'default');
    if (typeof exportName !== 'string' || exportName === '') {
      throw new ConfigError('worker.export', exportName, 'a non-empty export name');
    }
    if (
      worker.resourceLimits !== undefined &&
      (typeof worker.resourceLimits !== 'object' || worker.resourceLimits === null)
    ) {
      throw new ConfigError('worker.resourceLimits', worker.resourceLimits, 'an object of heap limits');
    }
    return {
      pool: this.name,
      module: moduleUrl(module),
      exportName,
      workerData: worker.workerData,
      resourceLimits: worker.resourceLimits,
      startTimeout: positive('worker.startTimeout', or(worker.startTimeout, 30_000)),
      clock: this.#clock,
    };
  }
}

/** The handler of a pool without `run`: the payload is the task. */
function callTask(task: Task<unknown>, context: TaskContext): unknown {
  if (typeof task !== 'function') {
    throw new TypeError(`sluice: a pool without a run handler takes functions, got ${typeof task}`);
  }
  return task(context);
}
