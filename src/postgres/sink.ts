import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { func, integer, oneOf, or, positive } from '../core/validate.ts';
import { PostgresWriteError, postgresErrorKind } from './errors.ts';
import type {
  PostgresClient,
  PostgresPool,
  PostgresSink,
  PostgresSinkEvents,
  PostgresSinkOptions,
  PostgresSinkSnapshot,
  WriteResult,
} from './types.ts';

/** PostgreSQL's limit on bind parameters in one statement. */
const MAX_PARAMETERS = 65_535;
/** Statements kept by row count; a batcher's sizes vary, but within a small range at a time. */
const STATEMENT_CACHE = 64;

/**
 * A batched, idempotent PostgreSQL sink: each `write` is one transaction holding one multi-row
 * `INSERT ... ON CONFLICT` keyed on the message id (or the entity key), so that writing a batch again, after
 * a retry or a redelivery, changes nothing that was already written.
 *
 * ```ts
 * const sink = createPostgresSink({
 *   pool,                                   // a pg Pool
 *   table: 'events',
 *   columns: ['id', 'account', 'seq', 'body'],
 *   values: (m: Event) => [m.id, m.account, m.seq, m.body],
 * });                                       // INSERT ... ON CONFLICT ("id") DO NOTHING
 * const batcher = createBatcher({ flush: (events) => sink.write(events) });
 * ```
 *
 * With `version`, rows are latest states of a key, and an older message never overwrites a newer one:
 *
 * ```ts
 * createPostgresSink({ pool, table: 'accounts', columns: ['account', 'seq', 'balance'],
 *   values: (m) => [m.account, m.seq, m.balance], conflict: 'account', version: 'seq' });
 * // INSERT ... ON CONFLICT ("account") DO UPDATE SET "seq" = EXCLUDED."seq", "balance" = EXCLUDED."balance"
 * //   WHERE "accounts"."seq" < EXCLUDED."seq"
 * ```
 *
 * Errors are classified (`PostgresWriteError.kind`): timeouts, lost connections and exhausted resources are
 * retryable and count as drops for a limiter; constraint violations and bad data are poison, which the
 * sink isolates by splitting the batch, and reports per item instead of failing the batch.
 */
export function createPostgresSink<T>(options: PostgresSinkOptions<T>): PostgresSink<T> {
  return new Sink(options);
}

interface Row {
  /** Index of the item in the batch. */
  readonly index: number;
  readonly values: readonly unknown[];
}

const noop = (): void => {};

class Sink<T> implements PostgresSink<T> {
  readonly name: string;
  readonly #pool: PostgresPool;
  readonly #values: (item: T) => readonly unknown[];
  readonly #clock: Clock;
  readonly #events = new Events<PostgresSinkEvents>('postgres');
  readonly #table: string;
  readonly #columns: readonly string[];
  readonly #conflict: readonly number[];
  readonly #tail: string;
  readonly #dedupe: boolean;
  readonly #version: number | undefined;
  readonly #begin: string;
  readonly #timeout: number;
  readonly #isolate: boolean;
  readonly #rowsPerStatement: number;
  readonly #statements = new Map<number, string>();

  #writes = 0;
  #failures = 0;
  #items = 0;
  #written = 0;
  #skipped = 0;
  #poisoned = 0;
  #latency = Number.NaN;

  constructor(options: PostgresSinkOptions<T>) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('options', options, 'an object with pool, table, columns and values');
    }
    if (typeof options.pool?.connect !== 'function') {
      throw new ConfigError('pool', options.pool, 'a pg Pool (an object with connect())');
    }
    this.#pool = options.pool;
    if (typeof options.table !== 'string' || options.table === '') {
      throw new ConfigError('table', options.table, 'a table name, optionally schema-qualified');
    }
    this.#table = options.table.split('.').map(quote).join('.');
    const columns = options.columns;
    if (
      !Array.isArray(columns) ||
      columns.length === 0 ||
      !columns.every((c) => typeof c === 'string' && c !== '') ||
      new Set(columns).size !== columns.length
    ) {
      throw new ConfigError('columns', columns, 'a non-empty array of distinct column names');
    }
    this.#columns = columns;
    this.#values = func('values', options.values);
    this.name = or(options.name, options.table);
    if (typeof this.name !== 'string' || this.name === '') {
      throw new ConfigError('name', options.name, 'a non-empty string');
    }
    this.#clock = options.clock ?? systemClock;

    const conflict = typeof options.conflict === 'string' ? [options.conflict] : (options.conflict ?? ['id']);
    if (!Array.isArray(conflict) || conflict.length === 0 || !conflict.every((c) => columns.includes(c))) {
      throw new ConfigError(
        'conflict',
        options.conflict,
        `one or more of the columns (${columns.join(', ')})`,
      );
    }
    this.#conflict = conflict.map((c) => columns.indexOf(c));
    if (options.version !== undefined && !columns.includes(options.version)) {
      throw new ConfigError('version', options.version, `one of the columns (${columns.join(', ')})`);
    }
    if (options.version !== undefined && conflict.includes(options.version)) {
      throw new ConfigError('version', options.version, 'a column outside the conflict key');
    }
    const action = oneOf(
      'onConflict',
      or(options.onConflict, options.version === undefined ? 'nothing' : 'update'),
      ['nothing', 'update'] as const,
    );
    if (action === 'nothing' && options.version !== undefined) {
      throw new ConfigError('onConflict', action, '"update" with a version column (or leave it out)');
    }
    const update = options.update ?? columns.filter((c) => !conflict.includes(c));
    if (
      action === 'update' &&
      (!Array.isArray(update) ||
        update.length === 0 ||
        !update.every((c) => columns.includes(c) && !conflict.includes(c)))
    ) {
      throw new ConfigError(
        'update',
        options.update,
        'a non-empty array of the columns outside the conflict key',
      );
    }
    if (options.version !== undefined && !update.includes(options.version)) {
      throw new ConfigError(
        'update',
        options.update,
        `an array that includes the version column "${options.version}"`,
      );
    }
    const target = `(${conflict.map(quote).join(', ')})`;
    if (action === 'nothing') {
      this.#tail = ` ON CONFLICT ${target} DO NOTHING`;
    } else {
      const set = update.map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`).join(', ');
      const guard =
        options.version === undefined
          ? ''
          : ` WHERE ${this.#table}.${quote(options.version)} < EXCLUDED.${quote(options.version)}`;
      this.#tail = ` ON CONFLICT ${target} DO UPDATE SET ${set}${guard}`;
    }
    // PostgreSQL refuses to update one row twice in one statement: one row per key per batch.
    this.#dedupe = action === 'update';
    this.#version = options.version === undefined ? undefined : columns.indexOf(options.version);

    const statementTimeout = integer('statementTimeout', or(options.statementTimeout, 5000), 0);
    this.#begin = statementTimeout > 0 ? `BEGIN; SET LOCAL statement_timeout = ${statementTimeout}` : 'BEGIN';
    this.#timeout = positive(
      'timeout',
      or(options.timeout, statementTimeout > 0 ? statementTimeout + 2000 : 10_000),
    );
    const isolate = or(options.isolatePoison, true);
    if (typeof isolate !== 'boolean') throw new ConfigError('isolatePoison', isolate, 'a boolean');
    this.#isolate = isolate;
    this.#rowsPerStatement = Math.floor(MAX_PARAMETERS / columns.length);
  }

  statement(rows: number): string {
    let text = this.#statements.get(rows);
    if (text !== undefined) return text;
    const width = this.#columns.length;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      const params: string[] = [];
      for (let c = 1; c <= width; c++) params.push(`$${r * width + c}`);
      tuples.push(`(${params.join(', ')})`);
    }
    text = `INSERT INTO ${this.#table} (${this.#columns.map(quote).join(', ')}) VALUES ${tuples.join(', ')}${this.#tail}`;
    if (this.#statements.size >= STATEMENT_CACHE) this.#statements.clear();
    this.#statements.set(rows, text);
    return text;
  }

  async write(items: readonly T[]): Promise<WriteResult> {
    const started = this.#clock.now();
    const failed = new Map<number, PostgresWriteError>();
    const rows = this.#rows(items, failed);
    const counts = { written: 0, statements: 0 };
    try {
      await this.#writeIsolating(rows, failed, counts);
    } catch (error) {
      const failure =
        error instanceof PostgresWriteError
          ? error
          : new PostgresWriteError(this.name, postgresErrorKind(error), rows.length, error);
      this.#writes++;
      this.#failures++;
      this.#items += items.length;
      if (this.#events.wants('write')) {
        this.#events.emit('write', {
          sink: this.name,
          at: this.#clock.now(),
          items: items.length,
          written: 0,
          skipped: 0,
          poisoned: 0,
          latency: this.#clock.now() - started,
          outcome: 'failure',
          error: failure,
        });
      }
      throw failure;
    }
    const latency = this.#clock.now() - started;
    const skipped = items.length - failed.size - counts.written;
    this.#writes++;
    this.#items += items.length;
    this.#written += counts.written;
    this.#skipped += skipped;
    this.#poisoned += failed.size;
    this.#latency = latency;
    if (this.#events.wants('write')) {
      this.#events.emit('write', {
        sink: this.name,
        at: this.#clock.now(),
        items: items.length,
        written: counts.written,
        skipped,
        poisoned: failed.size,
        latency,
        outcome: 'success',
      });
    }
    return { written: counts.written, skipped, failed, statements: counts.statements };
  }

  snapshot(): PostgresSinkSnapshot {
    return {
      writes: this.#writes,
      failures: this.#failures,
      items: this.#items,
      written: this.#written,
      skipped: this.#skipped,
      poisoned: this.#poisoned,
      latencyMs: this.#latency,
    };
  }

  on<K extends keyof PostgresSinkEvents & string>(
    name: K,
    listener: (event: PostgresSinkEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  /** The items' rows; items whose values cannot be had are poison. One row per key when updating. */
  #rows(items: readonly T[], failed: Map<number, PostgresWriteError>): Row[] {
    const width = this.#columns.length;
    const rows: Row[] = [];
    items.forEach((item, index) => {
      let values: readonly unknown[];
      try {
        values = this.#values(item);
      } catch (error) {
        failed.set(
          index,
          new PostgresWriteError(this.name, 'poison', 1, error, `values() threw: ${messageOf(error)}`),
        );
        return;
      }
      if (!Array.isArray(values) || values.length !== width) {
        const got = Array.isArray(values) ? `${values.length} values` : typeof values;
        failed.set(
          index,
          new PostgresWriteError(
            this.name,
            'poison',
            1,
            new TypeError(`values() gave ${got} for ${width} columns`),
          ),
        );
        return;
      }
      rows.push({ index, values });
    });
    if (!this.#dedupe) return rows;
    // The last row of a key wins; with a version, the highest version wins (the last of equals).
    const byKey = new Map<string, Row>();
    const version = this.#version;
    for (const row of rows) {
      const key = this.#conflict.map((c) => keyPart(row.values[c])).join('\u0000');
      const held = byKey.get(key);
      if (held === undefined || version === undefined || !newer(held.values[version], row.values[version])) {
        byKey.set(key, row);
      }
    }
    return byKey.size === rows.length ? rows : [...byKey.values()].sort((a, b) => a.index - b.index);
  }

  /** Writes the rows; on poison, writes halves separately down to the bad rows, which go to `failed`. */
  async #writeIsolating(
    rows: readonly Row[],
    failed: Map<number, PostgresWriteError>,
    counts: { written: number; statements: number },
  ): Promise<void> {
    if (rows.length === 0) return;
    try {
      counts.written += await this.#transaction(rows, counts);
    } catch (error) {
      const failure =
        error instanceof PostgresWriteError
          ? error
          : new PostgresWriteError(this.name, postgresErrorKind(error), rows.length, error);
      if (failure.kind !== 'poison' || !this.#isolate) throw failure;
      if (rows.length === 1) {
        failed.set(rows[0]!.index, failure);
        return;
      }
      const half = rows.length >> 1;
      await this.#writeIsolating(rows.slice(0, half), failed, counts);
      await this.#writeIsolating(rows.slice(half), failed, counts);
    }
  }

  /**
   * One transaction on one connection, bounded by `timeout` from asking for the connection. A connection
   * whose server answered with an error is rolled back and returned to the pool; one that timed out or broke
   * is destroyed, since whatever it was doing may still arrive.
   */
  async #transaction(rows: readonly Row[], counts: { statements: number }): Promise<number> {
    let expired = false;
    let lease: Lease | undefined;
    const { promise: timedOut, reject: expire } = Promise.withResolvers<never>();
    timedOut.catch(noop);
    const timer = this.#clock.setTimer(() => {
      expired = true;
      expire(
        new PostgresWriteError(
          this.name,
          'timeout',
          rows.length,
          new Error(`no commit within ${this.#timeout} ms`),
        ),
      );
      lease?.end(new Error('sluice: postgres write timed out'));
    }, this.#timeout);

    const connecting = this.#pool.connect();
    try {
      lease = new Lease(await Promise.race([connecting, timedOut]));
    } catch (error) {
      timer.cancel();
      // A connection that arrives after the timeout is not ours to use: destroy it.
      if (expired) connecting.then((late) => late.release(true), noop);
      throw error;
    }

    // One statement needs no transaction of its own, unless it carries a statement_timeout.
    const transaction = rows.length > this.#rowsPerStatement || this.#begin !== 'BEGIN';
    const work = this.#statementsOn(lease.client, rows, transaction, counts);
    try {
      const written = await Promise.race([work, timedOut]);
      timer.cancel();
      lease.end();
      return written;
    } catch (error) {
      timer.cancel();
      work.catch(noop);
      if (!expired) await this.#recover(lease, error, transaction);
      throw error;
    }
  }

  async #statementsOn(
    client: PostgresClient,
    rows: readonly Row[],
    transaction: boolean,
    counts: { statements: number },
  ): Promise<number> {
    if (transaction) {
      counts.statements++;
      await client.query(this.#begin);
    }
    let written = 0;
    for (let from = 0; from < rows.length; from += this.#rowsPerStatement) {
      const chunk = rows.slice(from, from + this.#rowsPerStatement);
      const values: unknown[] = [];
      for (const row of chunk) for (const v of row.values) values.push(v);
      counts.statements++;
      const result = await client.query(this.statement(chunk.length), values);
      written += result.rowCount ?? 0;
    }
    if (transaction) {
      counts.statements++;
      await client.query('COMMIT');
    }
    return written;
  }

  /** After a failed write: roll back and keep a healthy connection; destroy a broken one. */
  async #recover(lease: Lease, error: unknown, transaction: boolean): Promise<void> {
    const kind = postgresErrorKind(error);
    const answered = typeof (error as { code?: unknown })?.code === 'string' && kind !== 'connection';
    if (!answered) {
      lease.end(error instanceof Error ? error : true);
      return;
    }
    if (transaction) {
      try {
        await lease.client.query('ROLLBACK');
      } catch (rollback) {
        lease.end(rollback instanceof Error ? rollback : true);
        return;
      }
    }
    lease.end();
  }
}

/**
 * A connection checked out of the pool, released exactly once. While checked out, pg leaves a client's
 * `'error'` events to its user, and a server that goes away (a restart, a failover) emits one even between
 * statements: unheard, it would end the process. The lease hears it, and destroys the connection on release.
 */
class Lease {
  readonly client: PostgresClient;
  #broken: Error | undefined;
  #ended = false;
  readonly #onError = (error: Error): void => {
    this.#broken = error;
  };

  constructor(client: PostgresClient) {
    this.client = client;
    client.on?.('error', this.#onError);
  }

  /** Returns the connection to the pool, or destroys it (given an error, or when it broke meanwhile). */
  end(destroy?: Error | boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    const reason = destroy ?? this.#broken;
    if (reason === undefined || reason === false) this.client.release();
    else this.client.release(reason);
    // After the release: the pool listens again from there on.
    this.client.removeListener?.('error', this.#onError);
  }
}

/** Quotes an identifier (doubling embedded quotes), as `quote_ident` would always. */
function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** Whether version `a` is above `b`: numbers, bigints, strings and Dates compare as JavaScript does. */
function newer(a: unknown, b: unknown): boolean {
  return (a as number) > (b as number);
}

function keyPart(value: unknown): string {
  if (value instanceof Date) return `d${value.getTime()}`;
  if (typeof value === 'object' && value !== null) return `o${JSON.stringify(value)}`;
  return `${typeof value}:${String(value)}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
