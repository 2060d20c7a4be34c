import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { logDecisions } from '../../src/metrics/index.ts';
import { createBreaker } from '../../src/policies/breaker.ts';
import { createRegulator } from '../../src/regulator/regulator.ts';
import { createAutoscaler } from '../../src/scale/controller.ts';
import { createPool } from '../../src/scale/pool/pool.ts';
import type { Capacity, PolicyInput } from '../../src/scale/types.ts';
import { PressureMeter } from '../../src/signals/pressure.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';

type Line = Record<string, unknown> & { level: number; msg: string };

/** A pino logger writing JSON lines to a stream the test reads. */
function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text));
      done();
    },
  });
  return { logger: pino({ name: 'app', base: {}, timestamp: false }, stream), lines };
}

const INFO = 30;
const WARN = 40;

describe('decision logs', () => {
  it('log breaker transitions with the rule and its numbers: warn on opening, info on closing', async () => {
    const { logger, lines } = capture();
    const clock = new VirtualClock();
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 2, openDuration: 1000 });
    logDecisions(breaker, logger);
    for (let i = 0; i < 2; i++)
      await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    clock.advance(1000);
    await breaker.execute(() => 'ok');
    assert.deepEqual(
      lines.map((l) => [l.level, l.from, l.to, l.rule]),
      [
        [WARN, 'closed', 'open', 'consecutive-failures'],
        [INFO, 'open', 'half-open', 'open-elapsed'],
        [INFO, 'half-open', 'closed', 'probes-succeeded'],
      ],
    );
    const opened = lines[0]!;
    assert.equal(opened.component, 'breaker');
    assert.equal(opened.breaker, 'db');
    assert.equal(opened.name, 'app'); // the logger's own keys are left alone
    assert.equal(opened.event, 'state');
    assert.deepEqual(opened.reason, { rule: 'consecutive-failures', failures: 2, threshold: 2 });
    assert.equal(opened.openMs, 1000);
    assert.equal(opened.msg, 'breaker "db" closed → open: 2 failures in a row (threshold 2); open for 1 s');
  });

  it('log limit changes at most once per interval, summing up the changes in between', () => {
    const { logger, lines } = capture();
    const clock = new VirtualClock();
    const manual = new ManualLimit(10);
    const limiter = createLimiter({ name: 'api', clock, limit: manual });
    logDecisions(limiter, logger, { clock, interval: 10_000 });
    manual.set(12); // logged at once
    clock.advance(1000);
    manual.set(14);
    clock.advance(1000);
    manual.set(9); // these two wait for the interval
    assert.equal(lines.length, 1);
    assert.deepEqual(
      { ...lines[0], signals: undefined },
      {
        level: INFO,
        name: 'app',
        component: 'limiter',
        limiter: 'api',
        event: 'limit',
        previous: 10,
        limit: 12,
        changes: 1,
        rule: 'manual',
        signals: undefined,
        inflight: 0,
        queued: 0,
        msg: 'limiter "api" limit 10 → 12 (manual)',
      },
    );
    clock.advance(8000);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.previous, 12);
    assert.equal(lines[1]!.limit, 9);
    assert.equal(lines[1]!.changes, 2);
    assert.equal(lines[1]!.msg, 'limiter "api" limit 12 → 9 over 2 changes (last: manual)');
    clock.advance(20_000);
    manual.set(11); // the interval is long past: logged at once
    assert.equal(lines.length, 3);
  });

  it('log every autoscaler decision with its summary, warn when a collector failed, and skip holds on request', async () => {
    const clock = new VirtualClock();
    const fleet = {
      name: 'fleet',
      desired: 2,
      capacity: (): Capacity => ({ desired: fleet.desired, ready: fleet.desired }),
      scale: (n: number) => {
        fleet.desired = n;
      },
    };
    let load = 4;
    let failing = false;
    const autoscaler = createAutoscaler({
      name: 'workers',
      clock,
      actuator: fleet,
      max: 10,
      collectors: [
        { name: 'queue', collect: () => ({ load }) },
        {
          name: 'flaky',
          collect: () => {
            if (failing) throw new Error('refused');
            return {};
          },
        },
      ],
      policies: [
        {
          name: 'want',
          propose: (input: PolicyInput) => {
            const s = input.signals.get('load');
            return s && { replicas: s.value, rule: 'want:load', reason: `load ${s.value}` };
          },
        },
      ],
    });
    const all = capture();
    const changes = capture();
    logDecisions(autoscaler, all.logger);
    logDecisions(autoscaler, changes.logger, { holds: false });
    await autoscaler.tick(); // 2 → 4
    await autoscaler.tick(); // hold
    failing = true;
    load = 4;
    await autoscaler.tick(); // hold, with a failure
    assert.deepEqual(
      all.lines.map((l) => [l.level, l.seq, l.rule, l.from, l.replicas, l.changed]),
      [
        [INFO, 1, 'want:load', 2, 4, true],
        [INFO, 2, 'want:load', 4, 4, false],
        [WARN, 3, 'want:load', 4, 4, false],
      ],
    );
    const first = all.lines[0]!;
    assert.equal(first.component, 'autoscaler');
    assert.equal(first.autoscaler, 'workers');
    assert.equal(first.event, 'decision');
    assert.deepEqual(first.signals, { load: 4 });
    assert.match(first.msg, /^autoscaler "workers" #1 scale 2→4: want:load wants 4 \(load 4\)/);
    assert.deepEqual(all.lines[2]!.failures, [{ collector: 'flaky', message: 'refused' }]);
    assert.deepEqual(
      changes.lines.map((l) => l.seq),
      [1, 3],
    );
  });

  it('log pressure level changes, warn on entering critical', () => {
    const { logger, lines } = capture();
    const meter = new PressureMeter({ name: 'api', halfLife: 1 });
    logDecisions(meter, logger);
    meter.update({ queueDepth: 95, queueCapacity: 100 }, 0);
    meter.update({ queueDepth: 0, queueCapacity: 100 }, 100);
    assert.deepEqual(
      lines.map((l) => [l.level, l.pressure, l.from, l.to, l.dominant]),
      [
        [WARN, 'api', 'normal', 'critical', 'queue'],
        [INFO, 'api', 'critical', 'normal', 'none'],
      ],
    );
    assert.match(lines[0]!.msg, /^pressure "api" normal → critical \(score 0\.\d+, dominant queue\)$/);
  });

  it('log regulator rate changes and pool resizes', async () => {
    const { logger, lines } = capture();
    const clock = new VirtualClock();
    const regulator = createRegulator({ name: 'partner', clock, rate: 10 });
    const pool = createPool({ name: 'workers', clock, size: 1, max: 4 });
    logDecisions(regulator, logger, { clock, interval: 0 });
    logDecisions(pool, logger);
    regulator.setRate(20);
    pool.resize(3);
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['regulator "partner" rate 10/s → 20/s (manual)', 'pool "workers" resized 1 → 3'],
    );
    await pool.close();
  });

  it('stop logging once stopped', async () => {
    const { logger, lines } = capture();
    const breaker = createBreaker({ name: 'db', clock: new VirtualClock(), consecutiveFailures: 1 });
    const stop = logDecisions(breaker, logger);
    stop.stop();
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    assert.equal(lines.length, 0);
  });

  it('reject a logger without info() and warn(), and a component it does not know', () => {
    const breaker = createBreaker();
    assert.throws(
      () => logDecisions(breaker, {} as never),
      (e) => isConfigError(e) && e.option === 'logger',
    );
    assert.throws(
      () => logDecisions({} as never, capture().logger),
      (e) => isConfigError(e) && e.option === 'source',
    );
    assert.throws(
      () => logDecisions(breaker, capture().logger, { interval: -1 }),
      (e) => isConfigError(e) && e.option === 'interval',
    );
  });
});
