import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../../src/core/errors.ts';
import { queueBased } from '../../../src/scale/policies/queue-based.ts';
import { input, signal } from './helpers.ts';

describe('queueBased', () => {
  it('sizes a fixed backlog per replica, as KEDA does', () => {
    const p = queueBased({ backlog: 'lag', perReplica: 100 });
    assert.equal(p.name, 'queue:lag');
    assert.deepEqual(p.propose(input({ lag: 1200 })), {
      replicas: 12,
      rule: 'queue:lag',
      reason: 'lag 1200 at 100 per replica needs 12 on 4 replicas ready: 12',
    });
  });

  it("sizes by Little's law: keep up with arrivals and drain the backlog within drainTime", () => {
    const p = queueBased({ backlog: 'depth', rate: 10, arrivals: 'published', drainTime: 60_000 });
    // 600 waiting drain in 60 s at 10/s, plus 50/s arriving: 60/s at 10/s per replica.
    const out = p.propose(input({ depth: 600, published: 50 }));
    assert.deepEqual(out, {
      replicas: 6,
      rule: 'queue:depth',
      reason:
        'depth 600 drained in 60 s (10/s) plus arrivals 50/s, at 10/s per replica, needs 6 on 4 replicas ready: 6',
    });
  });

  it("estimates arrivals from the busy replicas and the backlog's growth when not given", () => {
    const p = queueBased({ backlog: 'depth', rate: 10, drainTime: 60_000 });
    const out = p.propose(input({ depth: signal(600, { slope: 10 }) }));
    assert.equal(out?.replicas, 6);
    assert.match(out!.reason, /arrivals 50\/s \(4 busy x 10\/s \+ growth 10\/s\)/);
    const draining = p.propose(input({ depth: signal(600, { slope: -30 }) }));
    assert.equal(draining?.replicas, 2, '(10/s + 40 - 30) / 10 = 2');
    assert.match(draining!.reason, /4 busy x 10\/s - growth 30\/s/);
  });

  it('reads the per-replica service rate from a signal', () => {
    const p = queueBased({ backlog: 'depth', rate: 'perReplicaRate', drainTime: 30_000 });
    assert.equal(p.propose(input({ depth: 900, perReplicaRate: 15 }, { counted: 2 }))?.replicas, 4);
    assert.equal(p.propose(input({ depth: 900 })), undefined, 'no rate this tick, no opinion');
    assert.equal(p.propose(input({ depth: 900, perReplicaRate: 0 })), undefined, 'a rate of 0 sizes nothing');
  });

  it('takes the larger answer when sized both ways', () => {
    const p = queueBased({ backlog: 'depth', perReplica: 100, rate: 10, drainTime: 60_000 });
    const out = p.propose(input({ depth: signal(1500, { slope: 0 }) }, { counted: 4 }));
    // per replica: 15; Little: (25 + 40) / 10 = 6.5
    assert.equal(out?.replicas, 15);
    assert.match(out!.reason, /^depth 1500 at 100 per replica needs 15/);
    const little = p.propose(input({ depth: signal(300, { slope: 50 }) }, { counted: 4 }));
    assert.equal(little?.replicas, 10, '(5 + 40 + 50) / 10 = 9.5');
  });

  it('proposes zero at or below the activation threshold, or abstains when asked', () => {
    const p = queueBased({ backlog: 'lag', perReplica: 100, activation: 5 });
    assert.deepEqual(p.propose(input({ lag: 5 })), {
      replicas: 0,
      rule: 'queue:lag',
      reason: 'lag 5 at or below the activation 5: idle, 0 replicas',
    });
    assert.equal(p.propose(input({ lag: 6 }))?.replicas, 1);
    const abstain = queueBased({ backlog: 'lag', perReplica: 100, idle: 'abstain' });
    assert.equal(abstain.propose(input({ lag: 0 })), undefined);
    assert.equal(queueBased({ backlog: 'lag', perReplica: 10 }).propose(input({ lag: 0 }))?.replicas, 0);
  });

  it('scales up from zero replicas', () => {
    const p = queueBased({ backlog: 'depth', rate: 5, drainTime: 10_000 });
    assert.equal(p.propose(input({ depth: 120 }, { counted: 0 }))?.replicas, 3, '12/s at 5/s per replica');
  });

  it('holds within the tolerance band, and while replicas starting cover the backlog', () => {
    const p = queueBased({ backlog: 'lag', perReplica: 100 });
    const held = p.propose(input({ lag: 420 }));
    assert.equal(held?.replicas, 4);
    assert.match(held!.reason, /within the 10% tolerance, hold 4$/);
    const covered = p.propose(input({ lag: 700 }, { counted: 4, desired: 8 }));
    assert.equal(covered?.replicas, 8);
    assert.match(covered!.reason, /the 4 starting cover it, hold 8$/);
  });

  it('has no opinion without its backlog signal', () => {
    assert.equal(queueBased({ backlog: 'lag', perReplica: 1 }).propose(input({ depth: 5 })), undefined);
  });

  it('never proposes fewer replicas for a larger backlog (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e5, noNaN: true }),
        fc.double({ min: 0, max: 1e5, noNaN: true }),
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        (a, b, counted, slope) => {
          const p = queueBased({ backlog: 'q', perReplica: 50, rate: 20, drainTime: 30_000 });
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const at = (depth: number): number =>
            p.propose(input({ q: signal(depth, { slope }) }, { counted }))!.replicas;
          assert.ok(at(lo) <= at(hi), `${lo} -> ${at(lo)}, ${hi} -> ${at(hi)}`);
          assert.ok(Number.isInteger(at(hi)) && at(hi) >= 0);
        },
      ),
    );
  });

  it('rejects invalid options, naming them', () => {
    for (const [options, option] of [
      [{ backlog: 'q' }, 'queueBased.perReplica'],
      [{ backlog: '', perReplica: 1 }, 'queueBased.backlog'],
      [{ backlog: 'q', perReplica: 0 }, 'queueBased.perReplica'],
      [{ backlog: 'q', rate: 10 }, 'queueBased.drainTime'],
      [{ backlog: 'q', rate: 10, drainTime: 0 }, 'queueBased.drainTime'],
      [{ backlog: 'q', rate: -1, drainTime: 1000 }, 'queueBased.rate'],
      [{ backlog: 'q', rate: '', drainTime: 1000 }, 'queueBased.rate'],
      [{ backlog: 'q', perReplica: 1, drainTime: 1000 }, 'queueBased.drainTime'],
      [{ backlog: 'q', perReplica: 1, arrivals: 'in' }, 'queueBased.arrivals'],
      [{ backlog: 'q', rate: 1, drainTime: 1000, arrivals: '' }, 'queueBased.arrivals'],
      [{ backlog: 'q', perReplica: 1, activation: -1 }, 'queueBased.activation'],
      [{ backlog: 'q', perReplica: 1, idle: 'none' }, 'queueBased.idle'],
      [{ backlog: 'q', perReplica: 1, tolerance: 2 }, 'queueBased.tolerance'],
      [{ backlog: 'q', perReplica: 1, use: 'x' }, 'queueBased.use'],
    ] as const) {
      assert.throws(
        () => queueBased(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
  });
});
