import type { ResourceLimits } from 'node:worker_threads';
import type { Clock } from '../../core/clock.ts';
import type { RejectedError } from '../../core/errors.ts';
import type { Actuator, Collector } from '../types.ts';
import type { PoolClosedError } from './errors.ts';

/** What an async worker hands to the function it runs. */
export interface TaskContext {
  /**
   * Aborts when the caller's `signal` aborts, or when `close({ timeoutMs })` gives up on the task. The pool
   * never stops a running task on its own: the task reads this to stop early.
   */
  readonly signal: AbortSignal;
  /** Id of the worker running the task (1, 2, 3, ... per pool). */
  readonly worker: number;
}

/** A unit of work for a pool of async workers without a `run` handler. */
export type Task<R> = (context: TaskContext) => R | PromiseLike<R>;

/** The handler of an async pool, applied to each submitted payload. */
export type Handler<P, R> = (payload: P, context: TaskContext) => R | PromiseLike<R>;

export interface PoolQueueOptions {
  /**
   * Most tasks held waiting for a worker; a newcomer to a full queue is refused (reason `"queue-full"`),
   * whatever its priority. 0 disables waiting (a task is refused when no worker is free). Default 1000.
   */
  readonly size?: number;
  /**
   * Longest a task waits for a worker (ms) before it is refused (reason `"queue-timeout"`); `Infinity` for
   * no bound. Default `Infinity`.
   */
  readonly timeout?: number;
}

/** Worker threads for CPU-bound work: each thread loads `module` and runs one task at a time. */
export interface ThreadWorkerOptions {
  /**
   * The module each thread loads: a file URL (`new URL('./resize.js', import.meta.url)`) or a file path.
   * It exports a handler `(payload) => result | Promise<result>`; payloads and results cross the thread
   * boundary by structured clone.
   */
  readonly module: URL | string;
  /** Name of the handler export. Default `"default"`. */
  readonly export?: string;
  /** Given to each thread as `workerData` from `node:worker_threads` (structured clone). Default `undefined`. */
  readonly workerData?: unknown;
  /** V8 heap limits of each thread. Default Node's. */
  readonly resourceLimits?: ResourceLimits;
  /**
   * Longest a thread may take to load its module (ms) before it counts as failed to start (and is
   * replaced, after a back-off). Default 30 000.
   */
  readonly startTimeout?: number;
}

interface PoolCommonOptions {
  /** Names the pool in events, errors, and as the name of its `collector` and `actuator`. Default `"pool"`. */
  readonly name?: string;
  /** Fewest workers, an integer >= 0. `resize` never goes below it. Default 1. */
  readonly min?: number;
  /**
   * Most workers, an integer >= max(min, 1). `resize` never goes above it. Default `max(min, 10)` for async
   * workers and `max(min, os.availableParallelism())` for threads.
   */
  readonly max?: number;
  /** Workers to start with, in [min, max]. Default `min`. */
  readonly size?: number;
  /** The waiting room in front of the workers (FIFO within a priority). */
  readonly queue?: PoolQueueOptions;
  /**
   * Sliding window (ms) of the rates and waiting-time percentiles the collector reports. Default 10 000.
   */
  readonly window?: number;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
}

/** A pool of async workers (for I/O-bound work): N workers run at most N tasks at once, in this thread. */
export interface AsyncPoolOptions<P, R> extends PoolCommonOptions {
  /** Applied to each submitted payload. Without it, submitted payloads are `Task` functions, called as is. */
  readonly run?: Handler<P, R>;
  readonly worker?: undefined;
}

/** A pool of worker threads (for CPU-bound work). */
export interface ThreadPoolOptions extends PoolCommonOptions {
  readonly worker: ThreadWorkerOptions;
  readonly run?: undefined;
}

export type PoolOptions<P, R> = AsyncPoolOptions<P, R> | ThreadPoolOptions;

export interface SubmitOptions {
  /**
   * Aborts the task while it waits (rejected with a `RejectedError`, reason `"aborted"`). Once the task
   * runs, an async worker passes it on in `TaskContext.signal`; a thread runs the task to its end.
   */
  readonly signal?: AbortSignal;
  /** Lower runs first; tasks of equal priority run in submission order. A finite number. Default 0. */
  readonly priority?: number;
}

export interface CloseOptions {
  /**
   * `true`: run what is queued and running, then stop. `false`: refuse what is queued (with a
   * `PoolClosedError`) and let only the running tasks finish. Default `true`.
   */
  readonly drain?: boolean;
  /**
   * Longest to wait (ms). When it passes, queued tasks are refused, running tasks are rejected with a
   * `PoolClosedError` (async tasks see their signal abort; threads are terminated) and the pool closes.
   * Default `Infinity`.
   */
  readonly timeoutMs?: number;
}

/** The pool at one instant. */
export interface PoolSnapshot {
  /** Workers asked for: the target `resize` set, within [min, max]. */
  readonly size: number;
  /** Workers starting (threads loading their module). */
  readonly starting: number;
  /** Workers ready to take a task and not retiring (idle + busy - retiring). */
  readonly ready: number;
  /** Ready workers without a task. */
  readonly idle: number;
  /** Tasks running (on retiring workers too). */
  readonly busy: number;
  /** Busy workers that leave once their task settles (the pool shrank under them). */
  readonly retiring: number;
  /** Tasks waiting for a worker. */
  readonly queued: number;
  /** Age of the longest-waiting task (ms), 0 if none. */
  readonly oldestWaitMs: number;
  /** `"open"`, `"draining"` (closing, still running tasks) or `"closed"`. */
  readonly state: 'open' | 'draining' | 'closed';
}

/** How a worker came to leave the pool (other than by crashing). */
export type RetireReason =
  /** It was idle when the pool shrank. */
  | 'idle'
  /** It was still starting when the pool shrank. */
  | 'starting'
  /** It was busy when the pool shrank, and left once its task settled. */
  | 'drained'
  /** The pool closed. */
  | 'close';

export interface PoolEvents {
  /** `resize()` (or the actuator) changed the target (on `sluice:pool:resize`). */
  readonly resize: {
    readonly pool: string;
    readonly at: number;
    readonly previous: number;
    readonly size: number;
    /** The count asked for, before clamping to [min, max]. */
    readonly requested: number;
    /** Workers started. */
    readonly started: number;
    /** Busy workers marked to retire earlier, kept instead of starting new ones. */
    readonly unretired: number;
    /** Idle or starting workers stopped at once. */
    readonly retired: number;
    /** Busy workers marked to retire after their current task. */
    readonly draining: number;
  };
  /** A worker is ready for tasks (on `sluice:pool:ready`). */
  readonly ready: {
    readonly pool: string;
    readonly at: number;
    readonly worker: number;
    /** Time from start to ready (ms). */
    readonly startupMs: number;
  };
  /** A worker left the pool (on `sluice:pool:retire`). */
  readonly retire: {
    readonly pool: string;
    readonly at: number;
    readonly worker: number;
    readonly reason: RetireReason;
  };
  /** A worker thread died (on `sluice:pool:crash`). */
  readonly crash: {
    readonly pool: string;
    readonly at: number;
    readonly worker: number;
    /** What it was doing: loading its module, waiting for a task, or running one (that task is rejected). */
    readonly phase: 'start' | 'idle' | 'task';
    readonly error: unknown;
    /** Delay before a replacement starts (ms); `undefined` when none is needed (the pool shrank or closes). */
    readonly restartInMs: number | undefined;
  };
  /** A task was refused (on `sluice:pool:reject`). */
  readonly reject: {
    readonly pool: string;
    readonly at: number;
    readonly error: RejectedError | PoolClosedError;
  };
}

export interface Pool<P, R> {
  readonly name: string;
  /** `"async"` or `"thread"`. */
  readonly kind: 'async' | 'thread';
  readonly min: number;
  readonly max: number;
  /** The target number of workers. */
  readonly size: number;
  /**
   * Runs `payload` on a worker when one is free. Rejects with a `RejectedError` when the queue is full
   * (`"queue-full"`), the wait times out (`"queue-timeout"`) or the signal aborts (`"aborted"`); with a
   * `PoolClosedError` once the pool is closing; with a `WorkerCrashedError` when its thread dies under
   * it; otherwise settles as the task does. Throws a `RangeError` for a priority that is not finite.
   */
  submit(payload: P, options?: SubmitOptions): Promise<R>;
  /**
   * Sets the target to `size` clamped to [min, max] and returns it. Growing starts workers at once (or
   * first keeps busy workers that were marked to retire); shrinking stops idle and starting workers and
   * marks busy ones to retire after their task. No task is lost or run twice. Ignored once closed.
   * Throws a `RangeError` unless `size` is an integer (or +-Infinity).
   */
  resize(size: number): number;
  /**
   * Stops accepting tasks, drains (or refuses) the queue, waits for running tasks, stops the workers.
   * Later calls return the same promise (`drain: false` and a `timeoutMs` still take effect).
   */
  close(options?: CloseOptions): Promise<void>;
  snapshot(): PoolSnapshot;
  /**
   * The autoscaler's view: `capacity()` is `{ desired: size, ready }`, `scale(n)` is `resize(n)`. It has no
   * `close`: the pool belongs to whoever created it, not to the controller.
   */
  readonly actuator: Actuator;
  /**
   * Readings (named after the pool) for the autoscaler: `queued`, `busy`, `size`, `ready`, `starting`,
   * `retiring`, `utilisation` (busy / serving workers, averaged over the time since the previous collect),
   * `arrivalRate` and `completionRate` (per second over `window`; arrivals count refused submits too),
   * `waitMeanMs` and `waitP99Ms` (time in queue of the tasks started within `window`, 0 if none),
   * `oldestWaitMs`, and `serviceMeanMs` (run time of the tasks settled within `window`, 0 if none).
   */
  readonly collector: Collector;
  /** Typed events (also on diagnostics_channel `sluice:pool:<event>`). */
  on<K extends keyof PoolEvents & string>(name: K, listener: (event: PoolEvents[K]) => void): () => void;
}

/** A pool of async workers that runs submitted `Task` functions. */
export interface TaskPool extends Omit<Pool<Task<unknown>, unknown>, 'submit'> {
  /** Runs `task` on a worker when one is free; see `Pool.submit`. */
  submit<T>(task: Task<T>, options?: SubmitOptions): Promise<T>;
}
