import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createBatcher } from '../../src/batch/batcher.ts';
import { isConfigError } from '../../src/core/errors.ts';
import { isPostgresWriteError } from '../../src/postgres/errors.ts';
import { createPostgresSink } from '../../src/postgres/sink.ts';
import type { PostgresPool, PostgresSinkOptions } from '../../src/postgres/types.ts';
import { services } from '../helpers/services.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const service = await services.postgres();

interface Event {
  readonly id: string;
  readonly key: string;
  readonly seq: number;
  readonly amount?: number;
}

const fakePool: PostgresPool = { connect: () => Promise.reject(new Error('unused')) };
const base: PostgresSinkOptions<Event> = {
  pool: fakePool,
  table: 'ingest.events',
  columns: ['id', 'key', 'seq'],
  values: (e) => [e.id, e.key, e.seq],
};

describe('createPostgresSink statements', () => {
  it('inserts many rows in one statement and skips the ids it has: ON CONFLICT DO NOTHING', () => {
    const sink = createPostgresSink(base);
    assert.equal(
      sink.statement(2),
      'INSERT INTO "ingest"."events" ("id", "key", "seq") VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT ("id") DO NOTHING',
    );
  });

  it('updates only toward a higher version with `version`', () => {
    const sink = createPostgresSink({ ...base, table: 'state', conflict: 'key', version: 'seq' });
    assert.equal(
      sink.statement(1),
      'INSERT INTO "state" ("id", "key", "seq") VALUES ($1, $2, $3) ON CONFLICT ("key") DO UPDATE SET "id" = EXCLUDED."id", "seq" = EXCLUDED."seq" WHERE "state"."seq" < EXCLUDED."seq"',
    );
  });

  it('quotes identifiers', () => {
    const sink = createPostgresSink({ ...base, table: 'we"ird', columns: ['id', 'a b'], values: () => [] });
    assert.match(sink.statement(1), /^INSERT INTO "we""ird" \("id", "a b"\)/);
  });

  const bad: [Partial<PostgresSinkOptions<Event>>, string][] = [
    [{ pool: {} as PostgresPool }, 'pool'],
    [{ table: '' }, 'table'],
    [{ columns: [] }, 'columns'],
    [{ columns: ['id', 'id'] }, 'columns'],
    [{ values: undefined as never }, 'values'],
    [{ conflict: 'nope' }, 'conflict'],
    [{ version: 'nope' }, 'version'],
    [{ version: 'id' }, 'version'],
    [{ version: 'seq', onConflict: 'nothing' }, 'onConflict'],
    [{ onConflict: 'update', update: ['id'] }, 'update'],
    [{ version: 'seq', update: ['key'] }, 'update'],
    [{ statementTimeout: -1 }, 'statementTimeout'],
    [{ timeout: 0 }, 'timeout'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => createPostgresSink({ ...base, ...options }),
        (error) => isConfigError(error) && error.option === option,
      );
    });
  }
});

describe('createPostgresSink (PostgreSQL)', { skip: service.skip, timeout: 60_000 }, () => {
  let pool: pg.Pool;
  const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
  const events = `sluice_sink_events_${suffix}`;
  const state = `sluice_sink_state_${suffix}`;
  let n = 0;
  const event = (key: string, seq: number, amount = 1): Event => ({ id: `e${n++}`, key, seq, amount });
  const eventSink = (options: Partial<PostgresSinkOptions<Event>> = {}) =>
    createPostgresSink<Event>({
      pool,
      table: events,
      columns: ['id', 'key', 'seq', 'amount'],
      values: (e) => [e.id, e.key, e.seq, e.amount],
      ...options,
    });
  const count = async (table: string) =>
    Number((await pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  before(async () => {
    pool = new pg.Pool({ connectionString: service.url, max: 4 });
    pool.on('error', () => {});
    await pool.query(
      `CREATE TABLE ${events} (id text PRIMARY KEY, key text NOT NULL, seq int NOT NULL,
                               amount int CHECK (amount >= 0))`,
    );
    await pool.query(`CREATE TABLE ${state} (key text PRIMARY KEY, id text NOT NULL, seq int NOT NULL)`);
  });
  after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${events}, ${state}`);
    await pool.end();
  });

  it('writes a batch, and writing it again changes nothing', async () => {
    const sink = eventSink();
    const batch = [event('a', 1), event('a', 2), event('b', 1)];
    const first = await sink.write(batch);
    assert.deepEqual([first.written, first.skipped, first.failed.size], [3, 0, 0]);
    assert.equal(first.statements, 3, 'BEGIN with SET LOCAL, one INSERT, COMMIT');
    const again = await sink.write(batch);
    assert.deepEqual([again.written, again.skipped], [0, 3]);
    assert.equal(await count(events), 3);
    assert.deepEqual(sink.snapshot().written, 3);
  });

  it('keeps the newest version of a key, whatever order the messages arrive in', async () => {
    const sink = createPostgresSink<Event>({
      pool,
      table: state,
      columns: ['key', 'id', 'seq'],
      values: (e) => [e.key, e.id, e.seq],
      conflict: 'key',
      version: 'seq',
    });
    const k = `k${n}`;
    await sink.write([event(k, 2)]);
    const late = await sink.write([event(k, 1)]);
    assert.deepEqual([late.written, late.skipped], [0, 1], 'an older message does not overwrite a newer one');
    const mixed = await sink.write([event(k, 5), event(k, 3), event(k, 4)]);
    assert.deepEqual([mixed.written, mixed.skipped], [1, 2], 'one row per key per statement: the highest');
    const row = (await pool.query(`SELECT seq FROM ${state} WHERE key = $1`, [k])).rows[0];
    assert.equal(row.seq, 5);
  });

  it('isolates poison rows by splitting the batch, and writes the others', async () => {
    const sink = eventSink();
    const batch = [event('p', 1), event('p', 2, -1), event('p', 3), event('p', 4), event('p', 5, -5)];
    const result = await sink.write(batch);
    assert.deepEqual([...result.failed.keys()].sort(), [1, 4]);
    const error = result.failed.get(1)!;
    assert.ok(isPostgresWriteError(error));
    assert.equal(error.kind, 'poison');
    assert.equal(error.sqlState, '23514');
    assert.equal(error.retryable, false);
    assert.equal(result.written, 3);
    const ids = (await pool.query(`SELECT id FROM ${events} WHERE key = 'p' ORDER BY seq`)).rows.map(
      (r) => r.id,
    );
    assert.deepEqual(ids, [batch[0]!.id, batch[2]!.id, batch[3]!.id]);
  });

  it('reports an item whose values() throws as poison, alone', async () => {
    const sink = eventSink({
      values: (e) => {
        if (e.seq === 2) throw new Error('cannot map');
        return [e.id, e.key, e.seq, e.amount];
      },
    });
    const result = await sink.write([event('v', 1), event('v', 2)]);
    assert.equal(result.written, 1);
    assert.match(result.failed.get(1)!.message, /cannot map/);
  });

  it('fails a batch as a whole, not retryable, on a mistake such as a missing table', async () => {
    const sink = eventSink({ table: `${events}_missing` });
    await assert.rejects(
      sink.write([event('m', 1)]),
      (e) => isPostgresWriteError(e) && e.kind === 'fatal' && !e.retryable && e.sqlState === '42P01',
    );
  });

  it('splits past 65535 parameters into statements of one transaction', async () => {
    const columns = Array.from({ length: 200 }, (_, i) => `c${i}`);
    const wide = `sluice_sink_wide_${suffix}`;
    await pool.query(
      `CREATE TABLE ${wide} (id int PRIMARY KEY, ${columns
        .slice(1)
        .map((c) => `${c} int`)
        .join(', ')})`,
    );
    try {
      const sink = createPostgresSink<number>({
        pool,
        table: wide,
        columns: ['id', ...columns.slice(1)],
        values: (i) => Array.from({ length: 200 }, () => i),
      });
      const result = await sink.write(Array.from({ length: 700 }, (_, i) => i));
      assert.equal(result.written, 700);
      assert.equal(result.statements, 5, 'BEGIN, then 327, 327 and 46 rows (200 parameters each), COMMIT');
    } finally {
      await pool.query(`DROP TABLE ${wide}`);
    }
  });

  it('times a batch stuck behind a table lock out with statement_timeout, retryable, a drop', async () => {
    const sink = eventSink({ statementTimeout: 300 });
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${events} IN ACCESS EXCLUSIVE MODE`);
      const started = performance.now();
      await assert.rejects(
        sink.write([event('l', 1)]),
        (e) => isPostgresWriteError(e) && e.kind === 'timeout' && e.retryable && e.outcome === 'dropped',
      );
      assert.ok(performance.now() - started < 2000);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    const result = await sink.write([event('l', 2)]);
    assert.equal(result.written, 1, 'the connection went back to the pool healthy');
  });

  it('survives the server ending its connection mid-write: a retryable connection error, not a crash', async () => {
    const sink = eventSink({ statementTimeout: 10_000 });
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${events} IN ACCESS EXCLUSIVE MODE`);
      // Settled into a value at once: it may fail while the loop below still runs.
      const failure = sink.write([event('x', 1)]).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Wait for the write to queue behind the lock, then end its backend as a restart or failover would.
      // (From outside the locker's transaction, which would see one snapshot of pg_stat_activity.)
      for (let i = 0; i < 50; i++) {
        const { rows } = await pool.query(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE $1`,
          [`INSERT INTO "${events}"%`],
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const error = await failure;
      assert.ok(isPostgresWriteError(error) && error.kind === 'connection' && error.retryable, String(error));
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    // pg emits 'error' on the checked-out client as well: the sink heard it, so the process is still here.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await sink.write([event('x', 2)])).written, 1);
  });

  it('gives up on a server that stops answering after `timeout`, and recovers after', async () => {
    const target = new URL(service.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) || 5432 });
    const url = new URL(service.url);
    url.port = String(proxy.port);
    const proxied = new pg.Pool({ connectionString: url.toString(), max: 2 });
    proxied.on('error', () => {});
    try {
      const sink = eventSink({ pool: proxied, statementTimeout: 0, timeout: 400 });
      assert.equal((await sink.write([event('t', 1)])).written, 1);
      proxy.stall();
      await assert.rejects(
        sink.write([event('t', 2)]),
        (e) => isPostgresWriteError(e) && e.kind === 'timeout',
      );
      proxy.cut();
      await assert.rejects(
        sink.write([event('t', 3)]),
        (e) => isPostgresWriteError(e) && e.kind === 'connection' && e.retryable,
      );
      proxy.restore();
      assert.equal((await sink.write([event('t', 4)])).written, 1);
    } finally {
      await proxied.end();
      await proxy.close();
    }
  });

  it('plugs into a batcher: written items resolve, a poison item alone rejects', async () => {
    const sink = eventSink();
    const batcher = createBatcher<Event>({ flush: (batch) => sink.write(batch), maxWait: 20 });
    const batch = [event('b', 1), event('b', 2, -1), event('b', 3)];
    const results = await Promise.allSettled(batch.map((e) => batcher.add(e)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const rejected = results[1] as PromiseRejectedResult;
    assert.ok(isPostgresWriteError(rejected.reason) && rejected.reason.kind === 'poison');
    await batcher.close();
  });
});
