import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../../src/core/errors.ts';
import { SignalAnalyser } from '../../../src/scale/analyse.ts';
import { predictive } from '../../../src/scale/policies/predictive.ts';
import { stepScaling } from '../../../src/scale/policies/step-scaling.ts';
import { targetTracking } from '../../../src/scale/policies/target-tracking.ts';
import type { ScalingPolicy } from '../../../src/scale/types.ts';
import { input, signal } from './helpers.ts';

const rps = targetTracking({ signal: 'rps', target: 100, per: 'total' });

describe('predictive', () => {
  it('sizes for the forecast when the forecast has come true', () => {
    const p = predictive({ policy: rps });
    assert.equal(p.name, 'predictive:target:rps');
    const out = p.propose(input({ rps: signal(400, { forecast: 800, accuracy: 1 }) }));
    assert.deepEqual(out, {
      replicas: 8,
      rule: 'predictive:target:rps',
      reason:
        'on the forecast, rps 800 is 2x the target 100 per replica on 4 replicas ready: ceil(800 / 100) = 8; ' +
        'reactive 4 + accuracy 1 x (8 - 4) = 8: 8',
    });
  });

  it("moves from the reactive answer towards the forecast's by the accuracy", () => {
    const p = predictive({ policy: rps });
    const half = p.propose(input({ rps: signal(400, { forecast: 800, accuracy: 0.5 }) }));
    assert.equal(half?.replicas, 6);
    assert.match(half!.reason, /reactive 4 \+ accuracy 0\.5 x \(8 - 4\) = 6: 6$/);
  });

  it('gives the reactive answer when the forecast has not come true', () => {
    const p = predictive({ policy: rps });
    const i = input({ rps: signal(400, { forecast: 800, accuracy: 0 }) });
    const out = p.propose(i);
    assert.equal(out?.replicas, 4);
    assert.equal(out?.rule, 'target:rps');
    assert.match(
      out!.reason,
      /; on the forecast 8, but reactive 4 \+ accuracy 0 x \(8 - 4\) = 4: not raised$/,
    );
  });

  it('never scales down ahead of a forecast drop', () => {
    const p = predictive({ policy: rps });
    const i = input({ rps: signal(900, { forecast: 100, accuracy: 1 }) });
    assert.deepEqual(p.propose(i), rps.propose(i));
  });

  it('raises the capacity asked for when the inner rule has no reactive opinion but fires on the forecast', () => {
    const steps = stepScaling({ signal: 'p99', steps: [{ above: 500, change: 4 }] });
    const p = predictive({ policy: steps });
    const out = p.propose(input({ p99: signal(300, { forecast: 700, accuracy: 0.8 }) }, { counted: 5 }));
    assert.equal(out?.replicas, 8, '5 + 0.8 x (9 - 5) = 8.2');
    assert.match(out!.reason, /the 5 asked for \+ accuracy 0\.8 x \(9 - 5\) = 8\.2: 8$/);
    assert.equal(
      p.propose(input({ p99: signal(300, { forecast: 700, accuracy: 0.1 }) }, { counted: 5 })),
      undefined,
      'not raised, and no reactive opinion',
    );
    assert.equal(p.propose(input({ p99: signal(300, { forecast: 400, accuracy: 1 }) })), undefined);
  });

  it('weighs by the accuracy of the signals the inner rule reads, the lowest of them', () => {
    const both: ScalingPolicy = {
      name: 'both',
      propose: (i) => {
        const a = i.signals.get('a')!.value;
        const b = i.signals.get('b')!.value;
        return { replicas: Math.ceil(a + b), rule: 'both', reason: `${a} + ${b}` };
      },
    };
    const signals = {
      a: signal(2, { forecast: 6, accuracy: 0.9 }),
      b: signal(2, { forecast: 2, accuracy: 0.5 }),
      c: signal(1, { forecast: 1, accuracy: 0 }),
    };
    assert.equal(predictive({ policy: both }).propose(input(signals))?.replicas, 6, '4 + 0.5 x 4');
    const c = signal(1, { accuracy: 1 });
    assert.equal(
      predictive({ policy: both }).propose(input({ ...signals, c }))?.replicas,
      6,
      'c is not read',
    );
    const onlyA = targetTracking({ signal: 'a', target: 1, per: 'total', tolerance: 0 });
    assert.equal(predictive({ policy: onlyA }).propose(input(signals))?.replicas, 6, '2 + 0.9 x 4 = 5.6');
  });

  it('looks its own horizon ahead when given one, along the trend from the latest reading', () => {
    const p = predictive({ policy: rps, horizon: 60_000 });
    const out = p.propose(input({ rps: signal(400, { slope: 5, forecast: 10_000, accuracy: 1 }) }));
    assert.equal(out?.replicas, 7, '400 + 5/s x 60 s = 700');
    assert.match(out!.reason, /^on the forecast 60 s ahead, rps 700/);
  });

  it('starts capacity ahead of a ramp that its analyser has learnt', () => {
    const analyser = new SignalAnalyser({ horizon: 60_000 });
    const p = predictive({ policy: rps });
    let t = 0;
    for (; t <= 300_000; t += 15_000) analyser.update(200 + (10 * t) / 1000, t); // +10 rps/s
    const i = input({ rps: analyser.signal(300_000)! }, { counted: 32 }); // 3200 rps: 32 replicas now
    assert.equal(analyser.accuracy, 1);
    assert.equal(rps.propose(i)?.replicas, 32);
    assert.equal(p.propose(i)?.replicas, 38, '3800 rps in 60 s');
  });

  it('is never below the reactive answer (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: -1e4, max: 1e5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (value, forecast, accuracy, counted, starting) => {
          const i = input(
            { rps: signal(value, { forecast, accuracy }) },
            { counted, desired: counted + starting },
          );
          const reactive = rps.propose(i);
          const out = predictive({ policy: rps }).propose(i);
          if (reactive === undefined) return;
          assert.ok(
            out !== undefined && out.replicas >= reactive.replicas,
            `${out?.replicas} < ${reactive.replicas}`,
          );
          assert.ok(Number.isInteger(out.replicas));
        },
      ),
    );
  });

  it('rejects invalid options, naming them', () => {
    for (const [options, option] of [
      [{}, 'predictive.policy'],
      [{ policy: { name: 'x' } }, 'predictive.policy'],
      [{ policy: rps, horizon: -1 }, 'predictive.horizon'],
      [{ policy: rps, horizon: Number.POSITIVE_INFINITY }, 'predictive.horizon'],
      [{ policy: rps, name: '' }, 'predictive.name'],
    ] as const) {
      assert.throws(
        () => predictive(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
  });
});
