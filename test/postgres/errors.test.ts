import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyPostgresError,
  isPostgresWriteError,
  PostgresWriteError,
  postgresErrorKind,
} from '../../src/postgres/errors.ts';

const sql = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('postgresErrorKind', () => {
  const cases: [unknown, string][] = [
    [sql('57014', 'canceling statement due to statement timeout'), 'timeout'],
    [sql('55P03', 'could not obtain lock'), 'timeout'],
    [sql('08006'), 'connection'],
    [sql('57P01', 'terminating connection due to administrator command'), 'connection'],
    [sql('ECONNREFUSED'), 'connection'],
    [sql('ECONNRESET'), 'connection'],
    [new Error('Connection terminated unexpectedly'), 'connection'],
    [new Error('timeout exceeded when trying to connect'), 'timeout'],
    [sql('53300', 'too many clients'), 'overload'],
    [sql('40P01', 'deadlock detected'), 'conflict'],
    [sql('23505', 'duplicate key'), 'poison'],
    [sql('23514', 'violates check constraint'), 'poison'],
    [sql('22P02', 'invalid input syntax for type integer'), 'poison'],
    [sql('42P01', 'relation does not exist'), 'fatal'],
    [sql('28P01', 'password authentication failed'), 'fatal'],
    [sql('XX000'), 'unknown'],
    [new Error('something else'), 'unknown'],
    ['a string', 'unknown'],
  ];
  for (const [error, kind] of cases) {
    it(`calls ${(error as Error).message ?? error} (${(error as { code?: string }).code ?? 'no code'}) ${kind}`, () => {
      assert.equal(postgresErrorKind(error), kind);
    });
  }
});

describe('PostgresWriteError', () => {
  it('retries and drops on overload kinds; neither on poison and fatal', () => {
    const timeout = new PostgresWriteError('events', 'timeout', 10, sql('57014', 'statement timeout'));
    assert.ok(isPostgresWriteError(timeout));
    assert.equal(timeout.retryable, true);
    assert.equal(timeout.outcome, 'dropped');
    assert.equal(timeout.sqlState, '57014');
    assert.match(
      timeout.message,
      /postgres sink "events" could not write 10 rows \(timeout, retryable\).*\[57014\]/,
    );
    const poison = new PostgresWriteError('events', 'poison', 1, sql('23514'));
    assert.equal(poison.retryable, false);
    assert.equal(poison.outcome, 'ignore');
    const unknown = new PostgresWriteError('events', 'unknown', 1, new Error('?'));
    assert.equal(unknown.retryable, true);
    assert.equal(unknown.outcome, 'ignore');
  });

  it('gives a limiter the outcome to learn, for sink errors, raw pg errors and others', () => {
    assert.equal(
      classifyPostgresError(new PostgresWriteError('t', 'connection', 1, new Error('x'))),
      'dropped',
    );
    assert.equal(classifyPostgresError(sql('57014')), 'dropped');
    assert.equal(classifyPostgresError(sql('23505')), 'ignore');
    assert.equal(
      classifyPostgresError(Object.assign(new Error('slow'), { name: 'TimeoutError' })),
      'dropped',
    );
    assert.equal(classifyPostgresError(new Error('bug')), 'ignore');
  });
});
