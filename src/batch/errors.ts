import { isSluiceError, SluiceError } from '../core/errors.ts';

/** `add()` on a batcher that is closing or closed, or an add that waited for room when `close()` came. */
export class BatcherClosedError extends SluiceError {
  readonly code = 'SLUICE_BATCHER_CLOSED';
  override readonly name = 'BatcherClosedError';
  readonly batcher: string;

  constructor(batcher: string) {
    super(`sluice: batcher "${batcher}" is closed`);
    this.batcher = batcher;
  }
}

export function isBatcherClosedError(error: unknown): error is BatcherClosedError {
  return isSluiceError(error) && error.code === 'SLUICE_BATCHER_CLOSED';
}
