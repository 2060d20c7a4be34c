import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../../src/core/errors.ts';
import { targetTracking } from '../../../src/scale/policies/target-tracking.ts';
import { input, signal } from './helpers.ts';

describe('targetTracking', () => {
  it('scales by the ratio of the signal to its target: ceil(4 x 0.9 / 0.6) = 6', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.6 });
    assert.equal(p.name, 'target:cpu');
    assert.deepEqual(p.propose(input({ cpu: 0.9 })), {
      replicas: 6,
      rule: 'target:cpu',
      reason: 'cpu 0.9 is 1.5x the target 0.6 on 4 replicas ready: ceil(4 x 1.5) = 6',
    });
  });

  it('scales down by the same rule', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.6 });
    assert.equal(p.propose(input({ cpu: 0.2 }, { counted: 9 }))?.replicas, 3);
  });

  it('holds the replicas asked for while the ratio is within the tolerance', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.6 });
    const held = p.propose(input({ cpu: 0.65 }, { counted: 10 }));
    assert.equal(held?.replicas, 10);
    assert.match(
      held!.reason,
      /1\.08x the target 0\.6 on 10 replicas ready, within the 10% tolerance: hold 10/,
    );
    assert.equal(p.propose(input({ cpu: 0.54 }, { counted: 10 }))?.replicas, 10, '0.9x is within');
    assert.equal(p.propose(input({ cpu: 0.53 }, { counted: 10 }))?.replicas, 9, '0.883x is not');
    const strict = targetTracking({ signal: 'cpu', target: 0.6, tolerance: 0 });
    assert.equal(strict.propose(input({ cpu: 0.65 }, { counted: 10 }))?.replicas, 11);
  });

  it('divides by the ready replicas out of warm-up, not by those asked for', () => {
    const p = targetTracking({ signal: 'inflight', target: 10 });
    // 4 ready replicas each hold 30 requests; 2 more are starting. 120 requests need 12 replicas.
    const out = p.propose(input({ inflight: 30 }, { counted: 4, desired: 6, ready: 5 }));
    assert.equal(out?.replicas, 12);
  });

  it('holds what is asked for when the replicas starting already cover the load (the HPA counts them idle)', () => {
    const p = targetTracking({ signal: 'inflight', target: 10 });
    const out = p.propose(input({ inflight: 15 }, { counted: 4, desired: 8 }));
    assert.deepEqual(out, {
      replicas: 8,
      rule: 'target:inflight',
      reason:
        'inflight 15 is 1.5x the target 10 on 4 replicas ready: ceil(4 x 1.5) = 6, and the 4 starting cover it: hold 8',
    });
  });

  it('tracks a fleet total against a per-replica target', () => {
    const p = targetTracking({ signal: 'rps', target: 100, per: 'total' });
    const out = p.propose(input({ rps: 900 }, { counted: 4 }));
    assert.deepEqual(out, {
      replicas: 9,
      rule: 'target:rps',
      reason: 'rps 900 is 2.25x the target 100 per replica on 4 replicas ready: ceil(900 / 100) = 9',
    });
    assert.equal(p.propose(input({ rps: 410 }, { counted: 4 }))?.replicas, 4, 'within the tolerance');
  });

  it('scales a fleet total up from zero replicas', () => {
    const p = targetTracking({ signal: 'rps', target: 100, per: 'total' });
    const out = p.propose(input({ rps: 250 }, { counted: 0 }));
    assert.equal(out?.replicas, 3);
    assert.match(out!.reason, /rps 250 with no ready replica/);
    assert.equal(p.propose(input({ rps: 0 }, { counted: 0 }))?.replicas, 0);
  });

  it('works on latency', () => {
    const p = targetTracking({ signal: 'p99', target: 200 });
    const out = p.propose(input({ p99: 412 }, { counted: 4 }));
    assert.equal(out?.replicas, 9);
    assert.match(out!.reason, /p99 412 is 2\.06x the target 200 on 4 replicas ready: ceil\(4 x 2\.06\) = 9/);
  });

  it('reads the smoothed value when asked', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.5, use: 'smoothed' });
    const out = p.propose(input({ cpu: signal(0.9, { smoothed: 1 }) }));
    assert.equal(out?.replicas, 8);
    assert.match(out!.reason, /^cpu \(smoothed\) 1 is 2x/);
  });

  it('has no opinion without its signal, or with a non-finite one', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.5 });
    assert.equal(p.propose(input({ memory: 0.9 })), undefined);
    assert.equal(p.propose(input({ cpu: Number.NaN })), undefined);
  });

  it('holds with no ready replica to measure a per-replica signal on, and has no opinion at zero', () => {
    const p = targetTracking({ signal: 'cpu', target: 0.5 });
    const out = p.propose(input({ cpu: 0 }, { counted: 0, desired: 3 }));
    assert.deepEqual([out?.replicas, out?.reason], [3, 'no ready replica to measure cpu on: hold 3']);
    assert.equal(p.propose(input({ cpu: 0 }, { counted: 0, desired: 0 })), undefined);
  });

  it('never proposes fewer than the counted replicas when the signal is above the band, nor more below it (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 500 }),
        (value, target, tolerance, counted, starting) => {
          const p = targetTracking({ signal: 's', target, tolerance });
          const out = p.propose(input({ s: value }, { counted, desired: counted + starting }))!;
          assert.ok(Number.isInteger(out.replicas) && out.replicas >= 0, `${out.replicas}`);
          if (value > target * (1 + tolerance)) assert.ok(out.replicas >= counted, out.reason);
          if (value < target * (1 - tolerance)) assert.ok(out.replicas <= counted, out.reason);
          assert.equal(out.rule, 'target:s');
        },
      ),
    );
  });

  it('rejects invalid options, naming them', () => {
    const ok = { signal: 'cpu', target: 0.5 };
    for (const [options, option] of [
      [{ ...ok, signal: '' }, 'targetTracking.signal'],
      [{ ...ok, target: 0 }, 'targetTracking.target'],
      [{ ...ok, target: Number.NaN }, 'targetTracking.target'],
      [{ ...ok, per: 'pod' }, 'targetTracking.per'],
      [{ ...ok, tolerance: 1 }, 'targetTracking.tolerance'],
      [{ ...ok, tolerance: -0.1 }, 'targetTracking.tolerance'],
      [{ ...ok, use: 'mean' }, 'targetTracking.use'],
      [{ ...ok, name: '' }, 'targetTracking.name'],
    ] as const) {
      assert.throws(
        () => targetTracking(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
    assert.throws(() => targetTracking(undefined as never), isConfigError);
  });
});
