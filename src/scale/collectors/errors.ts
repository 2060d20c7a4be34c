import { isSluiceError, SluiceError } from '../../core/errors.ts';

/**
 * A collector could not read its source: the endpoint answered with an error, a query failed, a queue or
 * consumer group does not exist, a reply had an unexpected shape. The message names the collector and what
 * it asked for (the query, the queue, the stream and group); `cause` holds the library's error, if any.
 * An abort of the collect's signal is not wrapped: it rejects with the signal's reason.
 */
export class CollectorError extends SluiceError {
  readonly code = 'SLUICE_COLLECTOR';
  override readonly name = 'CollectorError';
  /** The collector's name, e.g. `"promql"` or `"rabbitmq:orders"`. */
  readonly collector: string;

  constructor(collector: string, message: string, options?: { readonly cause?: unknown }) {
    super(`sluice: collector "${collector}": ${message}`, options);
    this.collector = collector;
  }
}

export function isCollectorError(error: unknown): error is CollectorError {
  return isSluiceError(error) && error.code === 'SLUICE_COLLECTOR';
}
