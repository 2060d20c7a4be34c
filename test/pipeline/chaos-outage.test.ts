import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { services } from '../helpers/services.ts';
import { assertBounded, describePhases, monitor, phasesAround, type World, world } from './harness.ts';
import { type PrivatePostgres, privatePostgresSkip, startPrivatePostgres } from './private-postgres.ts';

const rabbit = await services.rabbitmq();
const skip = rabbit.skip || privatePostgresSkip();

const RATE = 1500;
const STOP_AT = 2500;
const DOWN_MS = 3000;

describe('the pipeline while PostgreSQL is down (a private server, stopped and started)', {
  skip,
  timeout: 90_000,
}, () => {
  let server: PrivatePostgres;
  let w: World;
  before(async () => {
    server = await startPrivatePostgres();
    w = await world(rabbit.url, server.url);
  });
  after(async () => {
    await w?.close();
    await server?.destroy();
  });

  it('throttles intake while the database is down, recovers when it is back, and writes every message once', async () => {
    const pipeline = await w.start({ statementTimeout: 1000 });
    try {
      const m = monitor(pipeline, () => w.published.size);
      const publishing = w.publish(RATE, 9000);
      await new Promise((resolve) => setTimeout(resolve, STOP_AT));
      await server.stop();
      const downAt = m.now();
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      await server.start();
      const upAt = m.now();
      await publishing;
      await w.drained(40_000);
      m.stop();

      const phases = phasesAround(downAt, upAt);
      const report = describePhases(m, phases);
      console.log(`outage: ${report}`);
      const beforeFault = m.between(...phases.before);
      const during = m.between(...phases.during);
      const afterFault = m.between(...phases.after);
      assert.equal(during.acked, 0, `nothing commits while the database is down: ${report}`);
      assert.ok(during.received < 0.5 * during.published, `intake throttles: ${report}`);
      assert.ok(
        during.minLimit < beforeFault.minLimit,
        `lost connections cut the consumer's limit: ${report}`,
      );
      assert.ok(afterFault.acked > afterFault.published, `intake recovers and drains the backlog: ${report}`);
      assertBounded(m.samples, 2000);
      await w.verify();
      const c = pipeline.consumer.snapshot();
      assert.equal(c.deadLettered, 0);
      assert.ok(c.retried > 0, 'messages whose batches failed went back to RabbitMQ and came again');
    } finally {
      await pipeline.stop();
    }
  });
});
