import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { stepScaling } from '../../../src/scale/policies/step-scaling.ts';
import { input } from './helpers.ts';

describe('stepScaling', () => {
  const latency = stepScaling({
    signal: 'p99',
    steps: [
      { below: 100, change: -1 },
      { above: 300, below: 600, change: '+50%' },
      { above: 600, change: 4 },
    ],
  });

  it('applies the step whose interval holds the signal', () => {
    assert.deepEqual(latency.propose(input({ p99: 450 }, { counted: 4 })), {
      replicas: 6,
      rule: 'step:p99',
      reason: 'p99 450 in [300, 600): +50% of 4 is +2, 4 -> 6',
    });
    assert.deepEqual(latency.propose(input({ p99: 900 }, { counted: 4 })), {
      replicas: 8,
      rule: 'step:p99',
      reason: 'p99 900 in [600, inf): +4, 4 -> 8',
    });
    assert.equal(latency.propose(input({ p99: 40 }, { counted: 4 }))?.replicas, 3);
  });

  it('includes the lower bound and excludes the upper', () => {
    assert.equal(latency.propose(input({ p99: 600 }, { counted: 4 }))?.replicas, 8);
    assert.equal(latency.propose(input({ p99: 300 }, { counted: 4 }))?.replicas, 6);
    assert.equal(latency.propose(input({ p99: 100 }, { counted: 4 })), undefined);
  });

  it('has no opinion between the steps (the alarm is not firing) or without its signal', () => {
    assert.equal(latency.propose(input({ p99: 200 })), undefined);
    assert.equal(latency.propose(input({ p50: 900 })), undefined);
  });

  it('changes the replicas asked for, including those still starting', () => {
    assert.equal(latency.propose(input({ p99: 900 }, { counted: 4, desired: 10 }))?.replicas, 14);
  });

  it('truncates a percentage towards zero but moves at least minChange replicas', () => {
    const p = stepScaling({
      signal: 'q',
      steps: [
        { above: 10, change: '+10%' },
        { below: 0, change: '-30%' },
      ],
    });
    assert.equal(p.propose(input({ q: 20 }, { counted: 4 }))?.replicas, 5, '+0.4 moves 1');
    assert.equal(p.propose(input({ q: 20 }, { counted: 25 }))?.replicas, 27, '+2.5 moves 2');
    assert.equal(p.propose(input({ q: -1 }, { counted: 5 }))?.replicas, 4, '-1.5 moves 1');
    assert.equal(p.propose(input({ q: 20 }, { counted: 0 }))?.replicas, 0, '10% of nothing is nothing');
    const big = stepScaling({ signal: 'q', steps: [{ above: 10, change: '+10%' }], minChange: 3 });
    assert.equal(big.propose(input({ q: 20 }, { counted: 4 }))?.replicas, 7);
  });

  it('never proposes below zero', () => {
    const p = stepScaling({ signal: 'q', steps: [{ below: 1, change: -5 }] });
    const out = p.propose(input({ q: 0 }, { counted: 2 }));
    assert.equal(out?.replicas, 0);
    assert.equal(out?.reason, 'q 0 in [-inf, 1): -5, 2 -> 0');
  });

  it('rejects invalid options, naming them', () => {
    for (const [options, option] of [
      [{ signal: 'q', steps: [] }, 'stepScaling.steps'],
      [{ signal: 'q' }, 'stepScaling.steps'],
      [{ signal: '', steps: [{ change: 1 }] }, 'stepScaling.signal'],
      [{ signal: 'q', steps: [{ above: 5, below: 5, change: 1 }] }, 'stepScaling.steps[0].above'],
      [{ signal: 'q', steps: [{ above: 'x', change: 1 }] }, 'stepScaling.steps[0].above'],
      [{ signal: 'q', steps: [{ above: 1, change: 1.5 }] }, 'stepScaling.steps[0].change'],
      [{ signal: 'q', steps: [{ above: 1, change: '50%' }] }, 'stepScaling.steps[0].change'],
      [{ signal: 'q', steps: [{ above: 1, change: '-150%' }] }, 'stepScaling.steps[0].change'],
      [{ signal: 'q', steps: [3] }, 'stepScaling.steps[0]'],
      [
        {
          signal: 'q',
          steps: [
            { above: 10, change: 2 },
            { above: 0, below: 20, change: 1 },
          ],
        },
        'stepScaling.steps[0]',
      ],
      [{ signal: 'q', steps: [{ above: 1, change: 1 }], minChange: 0 }, 'stepScaling.minChange'],
      [{ signal: 'q', steps: [{ above: 1, change: 1 }], use: 'x' }, 'stepScaling.use'],
    ] as const) {
      assert.throws(
        () => stepScaling(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
  });
});
