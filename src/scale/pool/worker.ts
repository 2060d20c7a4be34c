import type { Handler, TaskContext } from './types.ts';

/** How a worker tells the pool about changes it did not ask for. */
export interface WorkerHooks {
  /** The worker loaded and can take tasks. */
  ready(): void;
  /** The worker died on its own (never after `stop()`); a task it was running is rejected by `run`. */
  exited(error: unknown): void;
}

/** One worker as a backend implements it. */
export interface WorkerHandle<P, R> {
  /** Runs one task (never more than one at a time). Never throws: failures reject. */
  run(payload: P, context: TaskContext | undefined): Promise<R>;
  /** Stops the worker; called only while it runs no task. Resolves once it is gone. */
  stop(): Promise<void> | undefined;
}

/** A kind of worker: the pool asks it for workers and decides everything else. */
export interface WorkerFactory<P, R> {
  readonly kind: 'async' | 'thread';
  /** Workers are ready as soon as `start` returns (the pool does not wait for `hooks.ready`). */
  readonly immediate: boolean;
  /** Whether `run` uses its context (the pool builds one per task only then). */
  readonly usesContext: boolean;
  start(id: number, hooks: WorkerHooks): WorkerHandle<P, R>;
}

/**
 * Async workers are slots in this thread's event loop: they need no start-up and cannot crash (a task that
 * throws just rejects). One handle serves them all, since a slot has no state of its own.
 */
export function asyncWorkers<P, R>(handler: Handler<P, R>): WorkerFactory<P, R> {
  const handle: WorkerHandle<P, R> = {
    // The executor catches a synchronous throw, so `run` never throws.
    run: (payload, context) => new Promise<R>((resolve) => resolve(handler(payload, context!))),
    stop: () => undefined,
  };
  return { kind: 'async', immediate: true, usesContext: true, start: () => handle };
}
