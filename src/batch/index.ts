export { createBatcher } from './batcher.ts';
export { BatcherClosedError, isBatcherClosedError } from './errors.ts';
export type {
  AddOptions,
  Batcher,
  BatcherEvents,
  BatcherOptions,
  BatcherSnapshot,
  BatchKey,
  BatchRetryOptions,
  FlushContext,
  FlushFunction,
  FlushResult,
  FlushTrigger,
  SizeChange,
  SizeRule,
} from './types.ts';
