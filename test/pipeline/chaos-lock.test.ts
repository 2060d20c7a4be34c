import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { services } from '../helpers/services.ts';
import { assertBounded, describePhases, monitor, phasesAround, type World, world } from './harness.ts';

const rabbit = await services.rabbitmq();
const postgres = await services.postgres();
const skip = rabbit.skip || postgres.skip;

const RATE = 1500;
const LOCK_AT = 2500;
const LOCK_MS = 3000;

describe('the pipeline while the sink is stalled by a table lock', { skip, timeout: 60_000 }, () => {
  let w: World;
  before(async () => {
    w = await world(rabbit.url, postgres.url);
  });
  after(async () => {
    await w?.close();
  });

  it('throttles intake during the stall, recovers after it, and writes every message once', async () => {
    const pipeline = await w.start({ statementTimeout: 500 });
    try {
      const m = monitor(pipeline, () => w.published.size);
      const publishing = w.publish(RATE, 9000);
      await new Promise((resolve) => setTimeout(resolve, LOCK_AT));
      const locker = await w.pool.connect();
      const lockedAt = m.now();
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${w.tables.events} IN ACCESS EXCLUSIVE MODE`);
      await new Promise((resolve) => setTimeout(resolve, LOCK_MS));
      await locker.query('ROLLBACK');
      locker.release();
      const releasedAt = m.now();
      await publishing;
      await w.drained(30_000);
      m.stop();

      const phases = phasesAround(lockedAt, releasedAt);
      const report = describePhases(m, phases);
      console.log(`lock: ${report}`);
      const during = m.between(...phases.during);
      const beforeFault = m.between(...phases.before);
      const afterFault = m.between(...phases.after);
      assert.ok(during.acked < 0.1 * beforeFault.acked, `nothing commits during the stall: ${report}`);
      assert.ok(during.received < 0.5 * during.published, `intake throttles during the stall: ${report}`);
      assert.ok(during.minLimit < beforeFault.minLimit, `the timeouts cut the consumer's limit: ${report}`);
      assert.ok(afterFault.acked > afterFault.published, `intake recovers and drains the backlog: ${report}`);
      assertBounded(m.samples, 2000);
      await w.verify();
      assert.equal(pipeline.consumer.snapshot().deadLettered, 0);
    } finally {
      await pipeline.stop();
    }
  });
});
