import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { services } from '../helpers/services.ts';
import { assertBounded, describePhases, monitor, phasesAround, type World, world } from './harness.ts';

const rabbit = await services.rabbitmq();
const postgres = await services.postgres();
const skip = rabbit.skip || postgres.skip;

const RATE = 1500;
const FAULT_AT = 2500;
const FAULT_MS = 3000;

/**
 * Injects latency into the events table with a trigger for FAULT_MS, mid-stream: `statement` sleeps once
 * per INSERT (a slow commit, a far database), `row` once per row (a costly index, a slow disk).
 */
async function withLatency(w: World, per: 'statement' | 'row', seconds: number, during: () => Promise<void>) {
  const fn = `${w.tables.events}_slow`;
  await w.pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${seconds}); RETURN ${per === 'row' ? 'NEW' : 'NULL'}; END $$`);
  await w.pool.query(
    `CREATE TRIGGER ${fn} BEFORE INSERT ON ${w.tables.events} FOR EACH ${per.toUpperCase()} EXECUTE FUNCTION ${fn}()`,
  );
  try {
    await during();
  } finally {
    await w.pool.query(`DROP TRIGGER ${fn} ON ${w.tables.events}`);
    await w.pool.query(`DROP FUNCTION ${fn}()`);
  }
}

/**
 * Publishes at RATE for 9 s with `per` latency injected from FAULT_AT for FAULT_MS, waits until everything
 * is acked, and returns the monitor's phases (before, during, and the 2 s after the fault) and their report.
 */
async function run(w: World, per: 'statement' | 'row', seconds: number) {
  const pipeline = await w.start();
  try {
    const m = monitor(pipeline, () => w.published.size);
    const publishing = w.publish(RATE, 9000);
    await new Promise((resolve) => setTimeout(resolve, FAULT_AT));
    let from = 0;
    let to = 0;
    await withLatency(w, per, seconds, async () => {
      from = m.now();
      await new Promise((resolve) => setTimeout(resolve, FAULT_MS));
      to = m.now();
    });
    await publishing;
    await w.drained(30_000);
    m.stop();
    const phases = phasesAround(from, to);
    const report = describePhases(m, phases);
    console.log(`${per} latency: ${report}`);
    assertBounded(m.samples, 2000);
    return {
      report,
      before: m.between(...phases.before),
      during: m.between(...phases.during),
      after: m.between(...phases.after),
    };
  } finally {
    await pipeline.stop();
  }
}

describe('the pipeline while the sink slows down', { skip, timeout: 90_000 }, () => {
  let w: World;
  before(async () => {
    w = await world(rabbit.url, postgres.url);
  });
  after(async () => {
    await w?.close();
  });

  it('answers a slow statement with larger batches, and keeps up', async () => {
    const { report, before: beforeFault, during } = await run(w, 'statement', 0.25);
    assert.ok(
      during.itemsPerFlush > 3 * beforeFault.itemsPerFlush,
      `batches grow with the latency: ${report}`,
    );
    assert.ok(during.acked > 0.6 * during.published, `and carry the load: ${report}`);
    await w.verify({ inOrder: true });
  });

  it('throttles intake to what the sink can take when each row is slow, and recovers after', async () => {
    const { report, during, after: afterFault } = await run(w, 'row', 0.002);
    // 2 ms a row: at most 500 rows a second, a third of the offered load.
    assert.ok(during.received < 0.6 * during.published, `intake falls to what the sink takes: ${report}`);
    assert.ok(during.acked > 0.1 * during.published, `and keeps flowing: ${report}`);
    assert.ok(afterFault.acked >= 0.9 * afterFault.published, `then recovers: ${report}`);
    await w.verify();
  });
});
