// sluice/postgres: a batched, idempotent PostgreSQL sink for the batcher and the adaptive consumers. Takes
// a pg Pool (pg is an optional peer dependency; the sink only uses the pool it is given).

export {
  classifyPostgresError,
  isPostgresWriteError,
  type PostgresErrorKind,
  PostgresWriteError,
  postgresErrorKind,
} from './errors.ts';
export { createPostgresSink } from './sink.ts';
export type {
  PostgresClient,
  PostgresPool,
  PostgresResult,
  PostgresSink,
  PostgresSinkEvents,
  PostgresSinkOptions,
  PostgresSinkSnapshot,
  WriteResult,
} from './types.ts';
