// The in-process dynamic worker pool: an actuator (resize) and a collector (its readings) for the autoscaler.
export {
  isPoolClosedError,
  isWorkerCrashedError,
  PoolClosedError,
  WorkerCrashedError,
} from './errors.ts';
export { createPool } from './pool.ts';
export type {
  AsyncPoolOptions,
  CloseOptions,
  Handler,
  Pool,
  PoolEvents,
  PoolOptions,
  PoolQueueOptions,
  PoolSnapshot,
  RetireReason,
  SubmitOptions,
  Task,
  TaskContext,
  TaskPool,
  ThreadPoolOptions,
  ThreadWorkerOptions,
} from './types.ts';
