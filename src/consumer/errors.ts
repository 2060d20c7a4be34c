import { isSluiceError, SluiceError } from '../core/errors.ts';

/** A stop gave up waiting for a handler: the reason its signal carries. */
export class ConsumerStoppedError extends SluiceError {
  readonly code = 'SLUICE_CONSUMER_STOPPED';
  override readonly name = 'ConsumerStoppedError';
  readonly consumer: string;
  constructor(consumer: string, timeoutMs: number) {
    super(
      `sluice: consumer "${consumer}" stopped without waiting more than ${timeoutMs} ms for its handlers`,
    );
    this.consumer = consumer;
  }
}

export function isConsumerStoppedError(error: unknown): error is ConsumerStoppedError {
  return isSluiceError(error) && error.code === 'SLUICE_CONSUMER_STOPPED';
}
