import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Readings } from '../types.ts';
import { CollectorError } from './errors.ts';
import {
  type AsyncCollector,
  clockOption,
  collectorName,
  excerpt,
  failure,
  Growth,
  nonEmptyString,
  numeric,
  objectOption,
  untilAborted,
} from './shared.ts';

export interface SqlCollectorOptions {
  /**
   * Runs the query and resolves with its rows, or with a result holding them in `rows` (as pg's
   * `pool.query` does): `(sql, params) => pool.query(sql, params)`.
   */
  readonly query: (sql: string, params: unknown[]) => Promise<unknown>;
  /**
   * A query returning one row of numbers, each column a reading named after it. A query with a single
   * column reads as `backlog`, whatever the column's name.
   */
  readonly sql: string;
  /** Query parameters (`$1`, `$2`, ...). Default none. */
  readonly params?: readonly unknown[];
  /** Names the collector in decision records. Default `"sql"`. */
  readonly name?: string;
  /** Times the intervals between collects for `backlogGrowth`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * A backlog counted in a database table: a jobs table, an outbox, an import queue. The query returns
 * one row; numeric columns become readings (pg's `int8` and `numeric` strings included), a NULL column is
 * left out, and a `backlog` column also gives `backlogGrowth`, its change per second since the previous
 * collect (absent on the first).
 *
 * ```ts
 * sqlCollector({
 *   query: (sql, params) => pool.query(sql, params),
 *   sql: `SELECT count(*) AS backlog,
 *                coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0) AS "oldestAgeMs"
 *           FROM jobs WHERE state = $1`,
 *   params: ['queued'],
 * });
 * ```
 *
 * Compute ages in SQL against the database's `now()`, as above, so that the two machines' clocks need not
 * agree. An aborted collect returns at once, but the query runs on in the database: give the role a
 * `statement_timeout` shorter than the collection deadline.
 */
export function sqlCollector(options: SqlCollectorOptions): AsyncCollector {
  objectOption('options', options);
  const { query } = options;
  if (typeof query !== 'function') {
    throw new ConfigError(
      'query',
      query,
      'a function (sql, params) => Promise<rows>, e.g. (sql, params) => pool.query(sql, params)',
    );
  }
  const sql = nonEmptyString('sql', options.sql);
  const params = options.params ?? [];
  if (!Array.isArray(params)) throw new ConfigError('params', params, 'an array');
  const name = collectorName(options.name, 'sql');
  const clock = clockOption(options.clock);
  const growth = new Growth();

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      let result: unknown;
      try {
        result = await untilAborted(Promise.resolve(query(sql, [...params])), signal);
      } catch (error) {
        return failure(name, `query ${JSON.stringify(excerpt(sql, 80))}`, error, signal);
      }
      const now = clock.now();
      const rows = Array.isArray(result) ? result : (result as { rows?: unknown } | null)?.rows;
      if (!Array.isArray(rows)) {
        throw new CollectorError(
          name,
          `query ${JSON.stringify(excerpt(sql, 80))} resolved with no rows array`,
        );
      }
      if (rows.length !== 1) {
        throw new CollectorError(
          name,
          `query ${JSON.stringify(excerpt(sql, 80))} must return one row, returned ${rows.length} (aggregate with count(), sum() or max())`,
        );
      }
      const row = rows[0] as Record<string, unknown> | null;
      if (typeof row !== 'object' || row === null) {
        throw new CollectorError(
          name,
          `query ${JSON.stringify(excerpt(sql, 80))} returned a row that is not an object`,
        );
      }
      const columns = Object.entries(row);
      const readings: Record<string, number> = {};
      for (const [column, value] of columns) {
        if (value === null || value === undefined) continue;
        const n = numeric(value);
        if (n === undefined || !Number.isFinite(n)) {
          throw new CollectorError(
            name,
            `column "${column}" of query ${JSON.stringify(excerpt(sql, 80))} is not a number: ${JSON.stringify(String(value))}`,
          );
        }
        readings[columns.length === 1 ? 'backlog' : column] = n;
      }
      const backlog = readings['backlog'];
      if (backlog !== undefined) {
        const change = growth.next(backlog, now);
        if (change !== undefined) readings['backlogGrowth'] = change;
      }
      return readings;
    },
  };
}
