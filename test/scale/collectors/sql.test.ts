import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { sqlCollector } from '../../../src/scale/collectors/sql.ts';
import { services } from '../../helpers/services.ts';

const service = await services.postgres();
const never = new AbortController().signal;

describe('sqlCollector (PostgreSQL)', { skip: service.skip }, () => {
  let pool: pg.Pool;
  const table = `sluice_test_jobs_${randomUUID().replace(/-/g, '')}`;
  const query = (sql: string, params: unknown[]) => pool.query(sql, params);
  const backlogSql = `SELECT count(*) AS backlog,
                             coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0) AS "oldestAgeMs"
                        FROM ${table} WHERE state = $1`;
  const enqueue = (n: number, age = '0 seconds') =>
    pool.query(
      `INSERT INTO ${table} (state, created_at) SELECT 'queued', now() - $2::interval FROM generate_series(1, $1)`,
      [n, age],
    );

  before(async () => {
    pool = new pg.Pool({ connectionString: service.url, max: 2 });
    await pool.query(
      `CREATE TABLE ${table} (id bigserial PRIMARY KEY, state text NOT NULL, created_at timestamptz NOT NULL)`,
    );
  });
  after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
  });

  it("reads each column of the row as a reading, pg's int8 and numeric strings included", async () => {
    await enqueue(3, '90 seconds');
    await enqueue(2);
    const collector = sqlCollector({ query, sql: backlogSql, params: ['queued'] });
    assert.equal(collector.name, 'sql');
    const r = await collector.collect(never);
    assert.equal(r['backlog'], 5);
    assert.ok(r['oldestAgeMs']! >= 90_000 && r['oldestAgeMs']! < 95_000, `oldest ${r['oldestAgeMs']}`);
    assert.equal('backlogGrowth' in r, false, 'growth needs two collects');
    await pool.query(`DELETE FROM ${table}`);
  });

  it('reports backlog growth per second between collects', async () => {
    const clock = new VirtualClock();
    const collector = sqlCollector({ query, sql: backlogSql, params: ['queued'], clock, name: 'jobs' });
    assert.equal((await collector.collect(never))['backlog'], 0);
    await enqueue(30);
    clock.advance(10_000);
    const r = await collector.collect(never);
    assert.equal(r['backlog'], 30);
    assert.equal(r['backlogGrowth'], 3);
    await pool.query(`UPDATE ${table} SET state = 'done' WHERE id IN (SELECT id FROM ${table} LIMIT 20)`);
    clock.advance(5000);
    assert.equal((await collector.collect(never))['backlogGrowth'], -4);
    await pool.query(`DELETE FROM ${table}`);
  });

  it('reads a single column as backlog whatever its name, and leaves NULL columns out', async () => {
    await enqueue(4);
    const single = sqlCollector({ query, sql: `SELECT count(*) FROM ${table}` });
    assert.deepEqual(await single.collect(never), { backlog: 4 });
    const withNull = sqlCollector({
      query,
      sql: `SELECT count(*) AS backlog, max(id) FILTER (WHERE false) AS newest FROM ${table}`,
    });
    assert.deepEqual(await withNull.collect(never), { backlog: 4 });
    await pool.query(`DELETE FROM ${table}`);
  });

  it('fails when the query does not return exactly one row, naming it', async () => {
    const none = sqlCollector({ query, sql: `SELECT id FROM ${table}` });
    await assert.rejects(
      none.collect(never),
      (e: unknown) => isCollectorError(e) && /must return one row, returned 0/.test(e.message),
    );
  });

  it('fails on a column that is not a number, naming it', async () => {
    const collector = sqlCollector({ query, sql: `SELECT count(*) AS backlog, 'x' AS state FROM ${table}` });
    await assert.rejects(
      collector.collect(never),
      (e: unknown) => isCollectorError(e) && /column "state" .* is not a number: "x"/.test(e.message),
    );
  });

  it("fails with the database's error, naming the query", async () => {
    const collector = sqlCollector({ query, sql: 'SELECT count(*) FROM sluice_no_such_table' });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(
        e.message,
        /query "SELECT count\(\*\) FROM sluice_no_such_table" failed: relation "sluice_no_such_table" does not exist/,
      );
      return true;
    });
  });

  it('returns with the abort reason while a slow query runs on', async () => {
    const collector = sqlCollector({ query, sql: 'SELECT count(*) FROM pg_sleep(0.3)' });
    const controller = new AbortController();
    const pending = collector.collect(controller.signal);
    const reason = new Error('tick deadline');
    controller.abort(reason);
    await assert.rejects(pending, (e: unknown) => e === reason);
  });

  it('rejects bad options, naming them', () => {
    const bad: [() => unknown, string][] = [
      [() => sqlCollector({ query: pool as never, sql: 'SELECT 1' }), 'query'],
      [() => sqlCollector({ query, sql: '' }), 'sql'],
      [() => sqlCollector({ query, sql: 'SELECT 1', params: 'x' as never }), 'params'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});
