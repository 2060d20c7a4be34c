import type { FlushResult } from '../batch/types.ts';
import type { Clock } from '../core/clock.ts';
import type { PostgresWriteError } from './errors.ts';

/** What the sink needs of a query result (pg's `QueryResult`). */
export interface PostgresResult {
  readonly rowCount: number | null;
}

/** What the sink needs of a pooled connection (pg's `PoolClient`). */
export interface PostgresClient {
  query(text: string, values?: unknown[]): Promise<PostgresResult>;
  /** Returns the connection to the pool, or destroys it when given an error (or `true`). */
  release(error?: Error | boolean): void;
  /** The sink listens to `'error'` while it holds the connection, as pg requires of whoever checks one out. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}

/** What the sink needs of a pool (pg's `Pool`). */
export interface PostgresPool {
  connect(): Promise<PostgresClient>;
}

export interface PostgresSinkOptions<T> {
  /**
   * A pg `Pool` (or anything with `connect()` giving a client with `query` and `release`). Give it an
   * `'error'` listener: pg emits one on the pool when an idle connection dies, and an unheard one ends the
   * process.
   */
  readonly pool: PostgresPool;
  /** The table, optionally schema-qualified (`"events"`, `"ingest.events"`). Each part is quoted as given. */
  readonly table: string;
  /** The columns written, in the order `values` returns them. */
  readonly columns: readonly string[];
  /**
   * One item's row: its values in the order of `columns`. pg converts them (a Date to a timestamp, an object
   * to JSON; pass `JSON.stringify(array)` for a JSON array, which pg would send as a SQL array). An item whose
   * `values` throws or returns the wrong count is poison: reported failed alone.
   */
  readonly values: (item: T) => readonly unknown[];
  /**
   * The column(s) of the unique index or primary key that makes the write idempotent: the message id for an
   * append-only table, the entity key for a table of latest states. Default `["id"]`.
   */
  readonly conflict?: string | readonly string[];
  /**
   * What a row whose conflict key exists does: `"nothing"` leaves the stored row (a redelivered message is
   * a no-op); `"update"` overwrites the `update` columns with the new values. Default `"nothing"`, or
   * `"update"` when `version` is given.
   */
  readonly onConflict?: 'nothing' | 'update';
  /** Columns an update sets. Default every column but the conflict ones. */
  readonly update?: readonly string[];
  /**
   * A column holding a version or sequence number that grows with each message of a key (a number, bigint,
   * or string that sorts in order). With it, an update applies only where the stored version is lower
   * (`WHERE table.version < EXCLUDED.version`), so a redelivered or late older message never overwrites a
   * newer one; and of several rows of one key in a batch only the highest version is sent (PostgreSQL
   * refuses to update one row twice in a statement). Implies `onConflict: "update"`.
   */
  readonly version?: string;
  /**
   * `statement_timeout` for each batch (ms), set with `SET LOCAL` in the batch's transaction: a batch stuck
   * behind a lock fails as a retryable `timeout` instead of holding the batcher. 0 for none. Default 5000.
   */
  readonly statementTimeout?: number;
  /**
   * Longest a batch may take from asking the pool for a connection to its commit (ms). After it the write
   * fails as a `timeout` and its connection is destroyed: this covers what `statement_timeout` cannot, a
   * server or network that stops answering. Default `statementTimeout + 2000` (10000 without one).
   */
  readonly timeout?: number;
  /**
   * When a batch fails on bad data (`poison`), write its halves separately, down to the bad rows, so that
   * only they are reported failed. Default true.
   */
  readonly isolatePoison?: boolean;
  /** Names the sink in events and errors. Default the table. */
  readonly name?: string;
  /** Times writes and the `timeout`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * The outcome of one `write`. It is a `FlushResult`, so `createBatcher({ flush: (items) => sink.write(items) })`
 * commits the items written and rejects the poison ones alone.
 */
export interface WriteResult extends FlushResult {
  /** Rows inserted or updated (the statements' row counts). */
  readonly written: number;
  /**
   * Items that changed nothing: already written (a redelivery), superseded by a newer version in the table
   * or in the same batch.
   */
  readonly skipped: number;
  /** Poison items by index: bad data the table refuses. Not retried. */
  readonly failed: ReadonlyMap<number, PostgresWriteError>;
  /** Statements sent, transaction control included. */
  readonly statements: number;
}

export interface PostgresSinkEvents {
  /** A write ended (on `sluice:postgres:write`). */
  readonly write: {
    readonly sink: string;
    readonly at: number;
    readonly items: number;
    readonly written: number;
    readonly skipped: number;
    readonly poisoned: number;
    readonly latency: number;
    readonly outcome: 'success' | 'failure';
    readonly error?: PostgresWriteError;
  };
}

export type PostgresSinkSnapshot = {
  /** Writes, and how many of them failed as a whole. */
  readonly writes: number;
  readonly failures: number;
  /** Items handed to `write`, rows written, items skipped, poison items. */
  readonly items: number;
  readonly written: number;
  readonly skipped: number;
  readonly poisoned: number;
  /** Latency of the last successful write (ms); NaN before the first. */
  readonly latencyMs: number;
};

export interface PostgresSink<T> {
  readonly name: string;
  /**
   * Writes the items as one batch, in one transaction: one multi-row `INSERT ... ON CONFLICT` (more only
   * beyond PostgreSQL's 65535 parameters). Resolves with what was written and the poison items; rejects with
   * a `PostgresWriteError` when the batch as a whole failed (retryable or not, as its kind says).
   */
  write(items: readonly T[]): Promise<WriteResult>;
  /** The statement for `rows` rows, for logs and tests. */
  statement(rows: number): string;
  snapshot(): PostgresSinkSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:postgres:<event>`). */
  on<K extends keyof PostgresSinkEvents & string>(
    name: K,
    listener: (event: PostgresSinkEvents[K]) => void,
  ): () => void;
}
