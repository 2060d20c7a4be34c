import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { defaultBehavior, resolveBehavior } from '../../../src/scale/guards.ts';
import { hpaBaseline, hpaDefaults } from '../../../src/scale/policies/hpa.ts';
import { input } from './helpers.ts';

describe('hpaBaseline', () => {
  it('is the HPA formula with a 10% tolerance, named hpa', () => {
    const p = hpaBaseline({ signal: 'cpu', target: 0.5 });
    assert.equal(p.name, 'hpa:cpu');
    const out = p.propose(input({ cpu: 0.8 }, { counted: 5 }));
    assert.deepEqual(out, {
      replicas: 8,
      rule: 'hpa:cpu',
      reason: 'cpu 0.8 is 1.6x the target 0.5 on 5 replicas ready: ceil(5 x 1.6) = 8',
    });
    assert.equal(p.propose(input({ cpu: 0.54 }, { counted: 5 }))?.replicas, 5, '8% over is within the band');
    assert.equal(p.propose(input({ cpu: 0.56 }, { counted: 5 }))?.replicas, 6, '12% over is not');
  });

  it('counts starting pods as idle when scaling up, and holds if they would carry the load', () => {
    const p = hpaBaseline({ signal: 'cpu', target: 0.5 });
    assert.equal(p.propose(input({ cpu: 0.9 }, { counted: 4, desired: 8 }))?.replicas, 8);
    assert.equal(p.propose(input({ cpu: 1.5 }, { counted: 4, desired: 8 }))?.replicas, 12);
  });

  it('validates its options under its own name', () => {
    assert.throws(
      () => hpaBaseline({ signal: 'cpu', target: -1 }),
      (e: unknown) => isConfigError(e) && e.option === 'hpaBaseline.target',
    );
  });
});

describe('hpaDefaults', () => {
  it('holds the HPA defaults in milliseconds, in the shape of the autoscaler options', () => {
    assert.deepEqual(hpaDefaults, {
      interval: 15_000,
      behavior: {
        scaleUp: {
          stabilizationWindowMs: 0,
          selectPolicy: 'max',
          policies: [
            { type: 'percent', value: 100, periodMs: 15_000 },
            { type: 'pods', value: 4, periodMs: 15_000 },
          ],
        },
        scaleDown: {
          stabilizationWindowMs: 300_000,
          selectPolicy: 'max',
          policies: [{ type: 'percent', value: 100, periodMs: 15_000 }],
        },
      },
    });
  });

  it('is what the guards resolve by default', () => {
    assert.deepEqual(resolveBehavior(hpaDefaults.behavior), defaultBehavior);
  });

  it('cannot be changed by accident', () => {
    assert.ok(Object.isFrozen(hpaDefaults));
    assert.ok(Object.isFrozen(hpaDefaults.behavior.scaleUp?.policies?.[0]));
    assert.throws(() => {
      (hpaDefaults as { interval: number }).interval = 1;
    }, TypeError);
  });
});
