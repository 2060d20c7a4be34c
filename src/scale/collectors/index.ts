// Collectors of sluice/scale: each gathers named readings for the controller from one source.
export { CollectorError, isCollectorError } from './errors.ts';
export { type CollectedEventLoop, type EventLoopCollectorOptions, eventLoopCollector } from './event-loop.ts';
export { gaugeCollector } from './gauge.ts';
export {
  type CollectedLimiter,
  type LimiterCollector,
  type LimiterCollectorOptions,
  limiterCollector,
} from './limiter.ts';
export {
  type CollectedConsumerInfo,
  type CollectedJetStreamManager,
  type NatsCollectorOptions,
  natsCollector,
} from './nats.ts';
export {
  type Absent,
  type Aggregate,
  type MetricSelection,
  type PrometheusCollectorOptions,
  type PromqlCollectorOptions,
  prometheusCollector,
  promqlCollector,
} from './prometheus.ts';
export { type QueueCheckingChannel, type RabbitmqCollectorOptions, rabbitmqCollector } from './rabbitmq.ts';
export { type RedisCaller, type RedisStreamCollectorOptions, redisStreamCollector } from './redis-stream.ts';
export type { AsyncCollector, SyncCollector } from './shared.ts';
export { type SqlCollectorOptions, sqlCollector } from './sql.ts';
