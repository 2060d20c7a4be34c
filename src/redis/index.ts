// sluice/redis: global limits and the pressure signal bus over Redis (ioredis, an optional peer dependency).

export type { RedisCaller } from './scripts.ts';
export { type RedisStoreOptions, redisStore } from './store.ts';
export * from './stream-consumer.ts';
export {
  type ClosablePressureTransport,
  type RedisDuplicable,
  type RedisPressureTransportOptions,
  type RedisSubscriber,
  redisPressureTransport,
} from './transport.ts';
