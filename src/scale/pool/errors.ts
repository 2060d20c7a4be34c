import { isSluiceError, SluiceError } from '../../core/errors.ts';

/** The pool was closing or closed: the task was refused, or given up on when `close({ timeoutMs })` ran out. */
export class PoolClosedError extends SluiceError {
  readonly code = 'SLUICE_POOL_CLOSED';
  override readonly name = 'PoolClosedError';
  readonly pool: string;
  /** `"submit"`: submitted after close; `"queued"`: refused from the queue; `"running"`: given up on while running. */
  readonly phase: 'submit' | 'queued' | 'running';

  constructor(pool: string, phase: 'submit' | 'queued' | 'running', detail = '') {
    super(`sluice: pool "${pool}" is closed; ${phaseText[phase]}${detail}`);
    this.pool = pool;
    this.phase = phase;
  }
}

const phaseText = {
  submit: 'the task was not accepted',
  queued: 'the queued task was refused without running',
  running: 'the task was still running when the close timeout passed',
} as const;

export function isPoolClosedError(error: unknown): error is PoolClosedError {
  return isSluiceError(error) && error.code === 'SLUICE_POOL_CLOSED';
}

/** The worker thread running the task died (an uncaught error, `process.exit`, or a heap limit). */
export class WorkerCrashedError extends SluiceError {
  readonly code = 'SLUICE_WORKER_CRASHED';
  override readonly name = 'WorkerCrashedError';
  readonly pool: string;
  readonly worker: number;
  /** The thread's exit code, when it exited rather than threw. */
  readonly exitCode: number | undefined;

  constructor(pool: string, worker: number, exitCode: number | undefined, cause?: unknown) {
    const why =
      cause instanceof Error
        ? `: ${cause.message}`
        : exitCode === undefined
          ? ''
          : ` with exit code ${exitCode}`;
    super(
      `sluice: worker ${worker} of pool "${pool}" died while running the task${why}`,
      cause === undefined ? undefined : { cause },
    );
    this.pool = pool;
    this.worker = worker;
    this.exitCode = exitCode;
  }
}

export function isWorkerCrashedError(error: unknown): error is WorkerCrashedError {
  return isSluiceError(error) && error.code === 'SLUICE_WORKER_CRASHED';
}
