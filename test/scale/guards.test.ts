import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { costPlan } from '../../src/scale/cost.ts';
import {
  applyGuards,
  type Behavior,
  bounds,
  budget,
  type Change,
  cooldown,
  defaultBehavior,
  freshness,
  type GuardContext,
  held,
  periodStart,
  type RatePolicy,
  type ResolvedBehavior,
  rate,
  rateLimit,
  resolveBehavior,
  resolveCooldown,
  stabilize,
} from '../../src/scale/guards.ts';

const S = 1000;

function behavior(overrides: Behavior): ResolvedBehavior {
  return resolveBehavior(overrides);
}

/** Asserts a clamp was made by `guard`, from `from` to `to`, with every number in `numbers` in its reason. */
function clamped(
  step: { replicas: number; clamp: { guard: string; from: number; to: number; reason: string } | undefined },
  guard: string,
  from: number,
  to: number,
  numbers: readonly (number | string)[] = [],
): void {
  assert.equal(step.replicas, to);
  assert.ok(step.clamp, `expected a ${guard} clamp`);
  assert.equal(step.clamp.guard, guard);
  assert.equal(step.clamp.from, from);
  assert.equal(step.clamp.to, to);
  for (const n of numbers) {
    assert.ok(step.clamp.reason.includes(String(n)), `reason "${step.clamp.reason}" should mention ${n}`);
  }
}

describe('bounds', () => {
  it('clamps a count above max down to max, saying both numbers', () => {
    clamped(bounds(12, 1, 10), 'max', 12, 10, [12, 10]);
  });

  it('raises a count below min to min', () => {
    clamped(bounds(0, 2, 10), 'min', 0, 2, [0, 2]);
  });

  it('leaves a count within [min, max] alone', () => {
    assert.deepEqual(bounds(5, 1, 10), { replicas: 5, clamp: undefined });
  });
});

describe('freshness (missing data)', () => {
  const limitMs = 45 * S;

  it('holds at the current count when every signal is stale, whichever way the proposal goes', () => {
    const staleness = {
      total: 2,
      stale: [
        { name: 'a', age: 60 * S },
        { name: 'b', age: 90 * S },
      ],
      limitMs,
    };
    clamped(freshness(2, 5, staleness), 'stale', 2, 5, [
      'all 2 signals are stale (the freshest read 60 s ago',
      '45 s',
    ]);
    clamped(freshness(9, 5, staleness), 'stale', 9, 5);
  });

  it('holds when there are no signals at all yet', () => {
    clamped(freshness(1, 3, { total: 0, stale: [], limitMs }), 'stale', 1, 3, ['no signals']);
  });

  it('never scales down while some signal is stale, but lets a scale-up through', () => {
    const staleness = { total: 3, stale: [{ name: 'backlog', age: 50 * S }], limitMs };
    clamped(freshness(2, 5, staleness), 'stale', 2, 5, ['1 of 3', 'backlog', '50 s']);
    assert.deepEqual(freshness(8, 5, staleness), { replicas: 8, clamp: undefined });
  });

  it('changes nothing while every signal is fresh', () => {
    assert.deepEqual(freshness(2, 5, { total: 2, stale: [], limitMs }), { replicas: 2, clamp: undefined });
  });
});

describe('costPlan and budget', () => {
  it('affords floor(cap / price) on-demand replicas', () => {
    const plan = costPlan({ pricePerReplicaHour: 1.2, maxSpendPerHour: 12 });
    assert.equal(plan.affordable, 10);
    assert.deepEqual(plan.split(10), {
      replicas: 10,
      onDemand: 10,
      preemptible: 0,
      spendPerHour: 12,
      maxSpendPerHour: 12,
      affordable: 10,
    });
  });

  it('puts the preemptible share (rounded down) on the cheap tier and affords more replicas', () => {
    const plan = costPlan({
      pricePerReplicaHour: 1,
      maxSpendPerHour: 10,
      preemptible: { share: 0.5, pricePerReplicaHour: 0.3 },
    });
    // 14: 7 + 7 x 0.3 = 9.1; 15: 8 + 7 x 0.3 = 10.1 > 10.
    assert.equal(plan.affordable, 14);
    const split = plan.split(7);
    assert.equal(split.onDemand, 4);
    assert.equal(split.preemptible, 3);
    assert.ok(Math.abs(split.spendPerHour - 4.9) < 1e-9);
  });

  it('does not let float rounding add a preemptible replica (0.7 x 10 is 7)', () => {
    const plan = costPlan({
      pricePerReplicaHour: 1,
      maxSpendPerHour: 100,
      preemptible: { share: 0.7, pricePerReplicaHour: 0.2 },
    });
    assert.equal(plan.split(10).preemptible, 7);
  });

  it('caps the count at what is affordable, with the spend in the reason', () => {
    const plan = costPlan({
      pricePerReplicaHour: 2,
      maxSpendPerHour: 10,
      preemptible: { share: 0.5, pricePerReplicaHour: 1 },
    });
    // n replicas cost 2 x ceil(n/2) + floor(n/2): 6 → 9, 7 → 11, 9 → 14.
    assert.equal(plan.affordable, 6);
    clamped(budget(9, plan), 'budget', 9, 6, ['14', '10', '3 on-demand + 3 preemptible']);
    assert.deepEqual(budget(6, plan), { replicas: 6, clamp: undefined });
  });

  it('rejects prices and shares out of range, naming the option', () => {
    const bad: [unknown, string][] = [
      [{ pricePerReplicaHour: 0, maxSpendPerHour: 10 }, 'cost.pricePerReplicaHour'],
      [{ pricePerReplicaHour: 1, maxSpendPerHour: -1 }, 'cost.maxSpendPerHour'],
      [
        { pricePerReplicaHour: 1, maxSpendPerHour: 1, preemptible: { share: 1.5, pricePerReplicaHour: 0.1 } },
        'cost.preemptible.share',
      ],
      [
        { pricePerReplicaHour: 1, maxSpendPerHour: 1, preemptible: { share: 0.5, pricePerReplicaHour: -1 } },
        'cost.preemptible.pricePerReplicaHour',
      ],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => costPlan(options as never),
        (e) => isConfigError(e) && e.option === option,
      );
    }
  });
});

describe('stabilize (Kubernetes HPA semantics)', () => {
  const now = 1_000 * S;
  const b = behavior({
    scaleUp: { stabilizationWindowMs: 60 * S },
    scaleDown: { stabilizationWindowMs: 300 * S },
  });

  it('scales up only as far as the lowest recommendation in the scale-up window', () => {
    const history = [
      { at: now - 90 * S, replicas: 3 }, // outside the window
      { at: now - 30 * S, replicas: 7 },
      { at: now - 10 * S, replicas: 5 },
    ];
    clamped(stabilize(9, 4, now, history, b), 'scaleUp.stabilization', 9, 5, [9, 5, '60 s']);
  });

  it('scales down only as far as the highest recommendation in the scale-down window', () => {
    const history = [
      { at: now - 200 * S, replicas: 8 },
      { at: now - 100 * S, replicas: 6 },
    ];
    clamped(stabilize(3, 10, now, history, b), 'scaleDown.stabilization', 3, 8, [3, 8, '5 min']);
    clamped(stabilize(3, 7, now, history, b), 'scaleDown.stabilization', 3, 7);
  });

  it('does not move against the current count: an up window low below current holds at current', () => {
    const history = [{ at: now - 10 * S, replicas: 2 }];
    clamped(stabilize(9, 4, now, history, b), 'scaleUp.stabilization', 9, 4);
  });

  it('leaves out a recommendation exactly one window old', () => {
    const history = [{ at: now - 300 * S, replicas: 10 }];
    assert.deepEqual(stabilize(3, 5, now, history, b), { replicas: 3, clamp: undefined });
  });

  it('with a zero window uses only the recommendation itself', () => {
    const history = [{ at: now - 1, replicas: 2 }];
    assert.deepEqual(stabilize(9, 4, now, history, defaultBehavior), { replicas: 9, clamp: undefined });
  });
});

describe('held (after a rollback)', () => {
  const hold = { direction: 'up' as const, until: 100 * S, cause: 'scaling up 4→8 did not help' };

  it('suppresses the held direction until the hold ends, with the time left and the cause', () => {
    clamped(held(9, 4, 40 * S, hold), 'rollback.hold', 9, 4, ['60 s', 'did not help']);
    assert.equal(held(9, 4, 100 * S, hold).replicas, 9);
  });

  it('lets the other direction through', () => {
    assert.equal(held(2, 4, 40 * S, hold).replicas, 2);
  });
});

describe('cooldown', () => {
  const wait = resolveCooldown({ up: 60 * S, down: 120 * S });

  it('makes a scale-up wait `up` after the last scale-up', () => {
    const last = { upAt: 0, changeAt: 0 };
    clamped(cooldown(8, 4, 20 * S, last, wait), 'scaleUp.cooldown', 8, 4, ['20 s', '60 s', '40 s']);
    assert.equal(cooldown(8, 4, 60 * S, last, wait).replicas, 8);
  });

  it('lets a scale-up follow a scale-down at once', () => {
    assert.equal(cooldown(8, 4, 1 * S, { upAt: -Infinity, changeAt: 0 }, wait).replicas, 8);
  });

  it('makes a scale-down wait `down` after a change of either kind', () => {
    clamped(cooldown(2, 4, 30 * S, { upAt: 0, changeAt: 0 }, wait), 'scaleDown.cooldown', 2, 4, ['2 min']);
    clamped(cooldown(2, 4, 30 * S, { upAt: -Infinity, changeAt: 0 }, wait), 'scaleDown.cooldown', 2, 4);
    assert.equal(cooldown(2, 4, 120 * S, { upAt: 0, changeAt: 0 }, wait).replicas, 2);
  });

  it('rejects a negative wait, naming the option', () => {
    assert.throws(
      () => resolveCooldown({ up: -1 }),
      (e) => isConfigError(e) && e.option === 'cooldown.up',
    );
  });
});

describe('rate-of-change policies', () => {
  const now = 100 * S;

  it('by default allows doubling or 4 pods per 15 s, whichever is more (HPA)', () => {
    assert.equal(rateLimit('up', 1, now, [], defaultBehavior.scaleUp)?.limit, 5);
    assert.equal(rateLimit('up', 4, now, [], defaultBehavior.scaleUp)?.limit, 8);
    assert.equal(rateLimit('up', 10, now, [], defaultBehavior.scaleUp)?.limit, 20);
  });

  it('measures each period from the count at its start, using the changes made within it', () => {
    const changes: Change[] = [{ at: now - 10 * S, from: 4, to: 8 }];
    assert.equal(periodStart(8, now, changes, 15 * S), 4);
    assert.equal(periodStart(8, now, changes, 5 * S), 8);
    // The period's allowance (4 → 8) is used up: no further growth until the change leaves the period.
    assert.equal(rateLimit('up', 8, now, changes, defaultBehavior.scaleUp)?.limit, 8);
    assert.equal(rateLimit('up', 8, now + 5 * S, changes, defaultBehavior.scaleUp)?.limit, 16);
  });

  it('picks the policy allowing the smallest change with selectPolicy "min"', () => {
    const rules = behavior({ scaleUp: { selectPolicy: 'min' } }).scaleUp;
    assert.equal(rateLimit('up', 10, now, [], rules)?.limit, 14);
    const down = behavior({
      scaleDown: {
        policies: [
          { type: 'pods', value: 1, periodMs: 60 * S },
          { type: 'percent', value: 50, periodMs: 60 * S },
        ],
        selectPolicy: 'min',
      },
    }).scaleDown;
    assert.equal(rateLimit('down', 10, now, [], down)?.limit, 9);
  });

  it('picks the policy allowing the largest change with selectPolicy "max", in both directions', () => {
    const down = behavior({
      scaleDown: {
        policies: [
          { type: 'pods', value: 1, periodMs: 60 * S },
          { type: 'percent', value: 50, periodMs: 60 * S },
        ],
      },
    }).scaleDown;
    assert.equal(rateLimit('down', 10, now, [], down)?.limit, 5);
  });

  it('forbids a direction with selectPolicy "disabled"', () => {
    const b = behavior({ scaleDown: { selectPolicy: 'disabled' } });
    clamped(rate(2, 6, now, [], b), 'scaleDown.rate', 2, 6, ['disabled']);
  });

  it('rounds percents without float error: 10% of 10 is 1 replica each way', () => {
    const p: RatePolicy[] = [{ type: 'percent', value: 10, periodMs: 60 * S }];
    const b = behavior({ scaleUp: { policies: p }, scaleDown: { policies: p } });
    assert.equal(rateLimit('up', 10, now, [], b.scaleUp)?.limit, 11);
    assert.equal(rateLimit('down', 10, now, [], b.scaleDown)?.limit, 9);
    // HPA rounds a scale-up limit up and a scale-down limit down: 10% of 15 is 1.5.
    assert.equal(rateLimit('up', 15, now, [], b.scaleUp)?.limit, 17);
    assert.equal(rateLimit('down', 15, now, [], b.scaleDown)?.limit, 13);
  });

  it('clamps with the winning policy and the period start in the reason', () => {
    const b = behavior({ scaleUp: { policies: [{ type: 'pods', value: 2, periodMs: 60 * S }] } });
    clamped(rate(9, 4, now, [{ at: now - 30 * S, from: 3, to: 4 }], b), 'scaleUp.rate', 9, 5, [
      '+2 pods',
      '60 s',
      'from 3',
    ]);
  });

  it('sets no limit with an empty policy list', () => {
    const b = behavior({ scaleUp: { policies: [] } });
    assert.equal(rateLimit('up', 2, now, [], b.scaleUp), undefined);
    assert.equal(rate(50, 2, now, [], b).replicas, 50);
  });
});

describe('resolveBehavior', () => {
  it("fills what is left out with the Kubernetes HPA's defaults", () => {
    const b = resolveBehavior({ scaleDown: { stabilizationWindowMs: 60 * S } });
    assert.equal(b.scaleDown.stabilizationWindowMs, 60 * S);
    assert.deepEqual(b.scaleDown.policies, defaultBehavior.scaleDown.policies);
    assert.equal(b.scaleUp, defaultBehavior.scaleUp);
  });

  it('names the exact option in its errors', () => {
    const bad: [Behavior, string][] = [
      [{ scaleUp: { stabilizationWindowMs: -1 } }, 'behavior.scaleUp.stabilizationWindowMs'],
      [
        { scaleUp: { policies: [{ type: 'pods', value: 1.5, periodMs: 1 }] } },
        'behavior.scaleUp.policies[0].value',
      ],
      [
        { scaleDown: { policies: [{ type: 'percent', value: 10, periodMs: 0 }] } },
        'behavior.scaleDown.policies[0].periodMs',
      ],
      [
        { scaleDown: { policies: [{ type: 'nodes' as 'pods', value: 1, periodMs: 1 }] } },
        'behavior.scaleDown.policies[0].type',
      ],
      [{ scaleDown: { selectPolicy: 'most' as 'max' } }, 'behavior.scaleDown.selectPolicy'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => resolveBehavior(options),
        (e) => isConfigError(e) && e.option === option && e.message.includes(option),
      );
    }
  });
});

function context(overrides: Partial<GuardContext>): GuardContext {
  return {
    now: 1_000 * S,
    current: 4,
    min: 1,
    max: 10,
    cost: undefined,
    staleness: { total: 1, stale: [], limitMs: 45 * S },
    behavior: defaultBehavior,
    recommendations: [],
    changes: [],
    cooldown: { up: 0, down: 0 },
    last: { upAt: -Infinity, changeAt: -Infinity },
    hold: undefined,
    ...overrides,
  };
}

describe('applyGuards', () => {
  it('applies the guards in their documented order and lists every clamp', () => {
    const plan = costPlan({ pricePerReplicaHour: 1, maxSpendPerHour: 9 });
    const result = applyGuards(
      30,
      context({
        cost: plan,
        behavior: behavior({
          scaleUp: {
            stabilizationWindowMs: 60 * S,
            policies: [{ type: 'pods', value: 1, periodMs: 15 * S }],
          },
        }),
        recommendations: [{ at: 1_000 * S - 30 * S, replicas: 7 }],
      }),
    );
    assert.deepEqual(
      result.clamps.map((c) => [c.guard, c.from, c.to]),
      [
        ['max', 30, 10],
        ['budget', 10, 9],
        ['scaleUp.stabilization', 9, 7],
        ['scaleUp.rate', 7, 5],
      ],
    );
    assert.equal(result.replicas, 5);
    assert.equal(result.recommendation, 9, 'stabilization remembers the count after bounds and budget');
  });

  it('brings a current count outside the bounds back inside them', () => {
    const result = applyGuards(20, context({ current: 20, max: 10 }));
    assert.equal(result.replicas, 10);
  });

  it('always ends within [min, max] and between the current count and the proposal (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        fc.array(
          fc.record({ ago: fc.integer({ min: 0, max: 400 }), replicas: fc.integer({ min: 0, max: 60 }) }),
        ),
        fc.array(
          fc.record({
            ago: fc.integer({ min: 1, max: 120 }),
            delta: fc.integer({ min: -5, max: 5 }),
          }),
          { maxLength: 4 },
        ),
        (min, span, current0, proposed, recs, moves) => {
          const max = min + span;
          const current = Math.min(max, Math.max(min, current0));
          const now = 1_000 * S;
          const changes: Change[] = moves
            .sort((a, b) => b.ago - a.ago)
            .map((m) => ({ at: now - m.ago * S, from: current, to: current + m.delta }));
          const result = applyGuards(
            proposed,
            context({
              current,
              min,
              max,
              changes,
              recommendations: recs.map((r) => ({ at: now - r.ago * S, replicas: r.replicas })),
              behavior: behavior({
                scaleUp: { stabilizationWindowMs: 60 * S },
                scaleDown: { stabilizationWindowMs: 300 * S },
              }),
            }),
          );
          assert.ok(result.replicas >= min && result.replicas <= max);
          const bounded = Math.min(max, Math.max(min, proposed));
          assert.ok(
            result.replicas >= Math.min(current, bounded) && result.replicas <= Math.max(current, bounded),
          );
        },
      ),
    );
  });
});
