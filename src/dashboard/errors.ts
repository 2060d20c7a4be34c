import { isSluiceError, SluiceError } from '../core/errors.ts';

/** `track()` or `listen()` was called on a dashboard after `close()`. */
export class DashboardClosedError extends SluiceError {
  readonly code = 'SLUICE_DASHBOARD_CLOSED';
  override readonly name = 'DashboardClosedError';
  /** What was called: `"track"` or `"listen"`. */
  readonly operation: string;

  constructor(operation: string) {
    super(`sluice: the dashboard is closed; ${operation}() is not possible after close()`);
    this.operation = operation;
  }
}

export function isDashboardClosedError(error: unknown): error is DashboardClosedError {
  return isSluiceError(error) && error.code === 'SLUICE_DASHBOARD_CLOSED';
}
