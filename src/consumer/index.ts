// The adaptive consumer engine: broker-independent, no dependencies. Adapters live in sluice/rabbitmq,
// sluice/nats and sluice/redis.

export { createConsumer } from './consumer.ts';
export { ConsumerStoppedError, isConsumerStoppedError } from './errors.ts';
export { parsePriority } from './priority.ts';
export type {
  Consumer,
  ConsumerCollector,
  ConsumerEvents,
  ConsumerMessage,
  ConsumerOptions,
  ConsumerSnapshot,
  ConsumerSource,
  ConsumerState,
  DeadLetterInfo,
  HandlerContext,
  MessageHandler,
  ShedReason,
  StopOptions,
} from './types.ts';
