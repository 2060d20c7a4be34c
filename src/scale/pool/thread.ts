import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ResourceLimits, Worker, type WorkerOptions } from 'node:worker_threads';
import type { Clock, Timer } from '../../core/clock.ts';
import { WorkerCrashedError } from './errors.ts';
import type { WorkerFactory, WorkerHandle, WorkerHooks } from './worker.ts';

/**
 * The thread's entry point, evaluated as a script so that it needs no file of its own next to the
 * compiled library. It waits for the module URL, loads it, says `ready`, then answers each payload with
 * `{ ok, value | error }`. A load failure is left uncaught: the thread dies and the pool sees a start
 * failure. A result or error that cannot be cloned is replaced by an error that says so.
 */
const bootstrap = `'use strict';
const { parentPort } = require('node:worker_threads');
parentPort.once('message', async ({ module, name }) => {
  const exports = await import(module);
  const handler = exports[name];
  if (typeof handler !== 'function') {
    throw new TypeError('sluice pool: module ' + module + ' has no function export "' + name + '"');
  }
  parentPort.on('message', async (payload) => {
    let reply;
    try {
      reply = { ok: true, value: await handler(payload) };
    } catch (error) {
      reply = { ok: false, error };
    }
    try {
      parentPort.postMessage(reply);
    } catch (cloneError) {
      const what = reply.ok ? 'result' : 'error (' + String(reply.error) + ')';
      parentPort.postMessage({
        ok: false,
        error: new Error('sluice pool: the task\\'s ' + what + ' cannot be sent back from the thread: ' + cloneError.message),
      });
    }
  });
  parentPort.postMessage({ ready: true });
});
`;

export interface ThreadSettings {
  readonly pool: string;
  readonly module: string;
  readonly exportName: string;
  readonly workerData: unknown;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly startTimeout: number;
  readonly clock: Clock;
}

/** `module` as a URL the thread can import: URLs and `file:`/`data:` strings as they are, paths resolved. */
export function moduleUrl(module: URL | string): string {
  if (module instanceof URL) return module.href;
  return /^(file|data):/i.test(module) ? module : pathToFileURL(resolvePath(module)).href;
}

export function threadWorkers<P, R>(settings: ThreadSettings): WorkerFactory<P, R> {
  return {
    kind: 'thread',
    immediate: false,
    usesContext: false,
    start: (id, hooks) => new ThreadWorker<P, R>(settings, id, hooks),
  };
}

interface Pending<R> {
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

type Reply<R> =
  | { readonly ready: true }
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown };

/**
 * One `node:worker_threads` Worker. It keeps the process alive only while it starts or runs a task, so an
 * idle pool does not hold the process open.
 */
class ThreadWorker<P, R> implements WorkerHandle<P, R> {
  readonly #settings: ThreadSettings;
  readonly #id: number;
  readonly #hooks: WorkerHooks;
  readonly #worker: Worker;
  #state: 'starting' | 'ready' | 'gone' = 'starting';
  #pending: Pending<R> | undefined;
  #startTimer: Timer | undefined;

  constructor(settings: ThreadSettings, id: number, hooks: WorkerHooks) {
    this.#settings = settings;
    this.#id = id;
    this.#hooks = hooks;
    const options: WorkerOptions = { eval: true, workerData: settings.workerData };
    if (settings.resourceLimits !== undefined) options.resourceLimits = settings.resourceLimits;
    const worker = new Worker(bootstrap, options);
    this.#worker = worker;
    worker.on('message', (reply: Reply<R>) => this.#onMessage(reply));
    worker.on('messageerror', (error) => this.#settle(false, error));
    worker.on('error', (error) => this.#die(error, undefined));
    worker.on('exit', (code) => this.#die(undefined, code));
    worker.postMessage({ module: settings.module, name: settings.exportName });
    this.#startTimer = settings.clock.setTimer(
      () =>
        this.#die(
          new Error(
            `sluice: worker ${id} of pool "${settings.pool}" did not load ${settings.module} within ${settings.startTimeout} ms`,
          ),
          undefined,
        ),
      settings.startTimeout,
      { ref: false },
    );
  }

  run(payload: P): Promise<R> {
    if (this.#state !== 'ready' || this.#pending !== undefined) {
      return Promise.reject(new Error(`sluice: worker ${this.#id} is not ready for a task`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    try {
      this.#worker.postMessage(payload);
    } catch (error) {
      // The payload cannot be cloned: the task fails, the thread is unharmed.
      return Promise.reject(error);
    }
    this.#pending = { resolve, reject };
    this.#worker.ref();
    return promise;
  }

  stop(): Promise<void> {
    this.#state = 'gone';
    this.#startTimer?.cancel();
    return this.#worker.terminate().then(
      () => undefined,
      () => undefined,
    );
  }

  #onMessage(reply: Reply<R>): void {
    if (this.#state === 'gone') return;
    if ('ready' in reply) {
      if (this.#state !== 'starting') return;
      this.#state = 'ready';
      this.#startTimer?.cancel();
      this.#startTimer = undefined;
      this.#worker.unref();
      this.#hooks.ready();
      return;
    }
    if (reply.ok) this.#settle(true, reply.value);
    else this.#settle(false, reply.error);
  }

  #settle(ok: boolean, value: unknown): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#worker.unref();
    if (ok) pending.resolve(value as R);
    else pending.reject(value);
  }

  /** The thread died on its own (an `error`, then an `exit`), or did not load in time: reported once. */
  #die(error: unknown, exitCode: number | undefined): void {
    if (this.#state === 'gone') return;
    this.#state = 'gone';
    this.#startTimer?.cancel();
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(new WorkerCrashedError(this.#settings.pool, this.#id, exitCode, error));
    if (exitCode === undefined) void this.#worker.terminate().catch(() => undefined);
    this.#hooks.exited(error ?? new Error(`sluice: worker ${this.#id} exited with code ${exitCode}`));
  }
}
