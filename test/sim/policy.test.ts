import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outcomeOf } from '../../src/sim/policies.ts';
import { type Scenario, simulate } from '../../src/sim/run.ts';
import { rejectsOption, within } from './helpers.ts';

/**
 * Twice the downstream's capacity: 10 servers at a mean of 11.3 ms (lognormal, median 10 ms) serve about
 * 880 requests per second; 1,600 arrive.
 */
function overload(policy: Scenario['policy']): Scenario {
  return {
    seed: 3,
    duration: 30_000,
    warmup: 5000,
    workload: { type: 'poisson', rate: 1600, priority: { critical: 1, normal: 2, sheddable: 1 } },
    downstream: { service: { type: 'lognormal', median: 10, sigma: 0.5 }, concurrency: 10 },
    ...(policy === undefined ? {} : { policy }),
    slo: { latency: 100 },
  };
}

describe('policies', () => {
  it('limiter: sheds under overload and keeps latency near the SLO, where no policy lets it explode', async () => {
    const none = await simulate(overload(undefined));
    const limited = await simulate(overload({ type: 'limiter', queue: { timeout: 80 } }));
    const n = none.summary;
    const l = limited.summary;
    // Without a policy the queue grows without bound: nothing meets the SLO.
    assert.ok(n.latency.p50! > 5000);
    assert.equal(n.successWithinSlo, 0);
    // With the limiter, the excess is shed (about 45%) and what is served is served fast.
    within(l.shed / l.offered, 0.45, 0.05);
    assert.ok(l.goodput > 850, `goodput ${l.goodput}`);
    assert.ok(l.goodputWithinSlo > 0.95 * l.goodput);
    assert.ok(l.latency.p99! <= 1.1 * 100, `p99 ${l.latency.p99}`);
    // The adaptive limit settles near the downstream's 10 servers.
    within(l.gauges['limit']!.mean!, 11, 3);
    assert.ok(l.gauges['inflight']!.max! <= l.gauges['limit']!.max!);
  });

  it('limiter: sheds the least important first', async () => {
    const { summary } = await simulate(overload({ type: 'limiter', queue: { timeout: 80 } }));
    const by = summary.byPriority;
    const shedShare = (p: string) => by[p]!.shed / by[p]!.offered;
    assert.ok(shedShare('critical') < 0.01, `critical ${shedShare('critical')}`);
    assert.ok(shedShare('sheddable') > 0.9, `sheddable ${shedShare('sheddable')}`);
  });

  it('limiter: runs the named limit algorithm with its options, or a fixed limit', async () => {
    const base = { ...overload(undefined), duration: 15_000, warmup: 5000 };
    const fixed = await simulate({ ...base, policy: { type: 'limiter', limit: 5, queue: false } });
    assert.equal(fixed.summary.gauges['limit']!.max, 5);
    assert.deepEqual(Object.keys(fixed.summary.shedByReason), ['limit']);
    for (const algorithm of ['vegas', 'aimd', 'gradient2']) {
      const r = await simulate({ ...base, policy: { type: 'limiter', limit: { algorithm, max: 40 } } });
      assert.ok(r.summary.gauges['limit']!.max! <= 40, algorithm);
      assert.ok(r.summary.shed > 0, algorithm);
    }
    const w = await simulate({
      ...base,
      policy: {
        type: 'limiter',
        limit: { algorithm: 'windowed', window: 200, limit: { algorithm: 'aimd', max: 30 } },
      },
    });
    assert.ok(w.summary.gauges['limit']!.max! <= 30);
  });

  it('limiter: reports a bad or unknown option with its path in the scenario', async () => {
    const base = overload(undefined);
    await rejectsOption(
      () =>
        simulate({ ...base, policy: { type: 'limiter', limit: { algorithm: 'gradient2', smoothing: 3 } } }),
      'policy.limit.smoothing',
    );
    await rejectsOption(
      () => simulate({ ...base, policy: { type: 'limiter', limit: { algorithm: 'vegas', smothing: 0.5 } } }),
      'policy.limit.smothing',
    );
    await rejectsOption(
      () => simulate({ ...base, policy: { type: 'limiter', limit: { algorithm: 'bbr' } } }),
      'policy.limit.algorithm',
    );
    await rejectsOption(
      () => simulate({ ...base, policy: { type: 'limiter', queue: { sise: 10 } } }),
      'policy.queue.sise',
    );
    await rejectsOption(
      () => simulate({ ...base, policy: { type: 'limiter', queue: { size: -1 } } }),
      'policy.queue.size',
    );
    await rejectsOption(() => simulate({ ...base, policy: { type: 'limiter', limt: 3 } }), 'policy.limt');
    // A priority the limiter does not have is reported where the workload names it.
    await rejectsOption(
      () =>
        simulate({
          ...base,
          workload: [
            { type: 'poisson', rate: 10 },
            { type: 'poisson', rate: 10, priority: 'urgent' },
          ],
          policy: { type: 'limiter' },
        }),
      'workload[1].priority',
    );
  });

  it('static: admits up to its limit, queues up to its size, and rejects with the reason', async () => {
    const { summary } = await simulate({
      ...overload({ type: 'static', limit: 8, queue: 4, timeout: 3 }),
      workload: { type: 'poisson', rate: 1600, timeout: 30 },
    });
    assert.equal(summary.gauges['inflight']!.max, 8);
    assert.ok(summary.gauges['queued']!.max! <= 4);
    assert.deepEqual(Object.keys(summary.shedByReason).sort(), ['queue-full', 'queue-timeout']);
    const rejectAtOnce = await simulate(overload({ type: 'static', limit: 8 }));
    assert.deepEqual(Object.keys(rejectAtOnce.summary.shedByReason), ['limit']);
    const deadline = await simulate({
      ...overload({ type: 'static', limit: 8, queue: 100 }),
      workload: { type: 'poisson', rate: 1600, timeout: 30 },
    });
    // Waiters whose client gives up are dropped at the deadline: the client sees a timeout, not a "no".
    assert.ok(deadline.summary.timeouts > 0);
    assert.equal(deadline.summary.shedByReason['deadline'], undefined);
  });

  it('regulator: holds admissions to its rate', async () => {
    const { summary } = await simulate({
      ...overload({ type: 'regulator', rate: 300, min: 300, max: 300, burst: 10, queue: false }),
    });
    within(summary.admitted / 25, 300, 5);
    assert.ok(summary.gauges['rate']!.max === 300);
  });

  it('regulator: backs off when the downstream answers "overload"', async () => {
    const { summary } = await simulate({
      ...overload({ type: 'regulator', rate: 2000, queue: false }),
      downstream: { service: { type: 'lognormal', median: 10, sigma: 0.5 }, concurrency: 10, queue: 20 },
    });
    assert.ok(summary.gauges['rate']!.mean! < 1500, `rate ${summary.gauges['rate']!.mean}`);
  });

  it('teaches components: successes are samples, overloads and timeouts are drops, errors are ignored', () => {
    assert.equal(outcomeOf('success'), 'success');
    assert.equal(outcomeOf('overload'), 'dropped');
    assert.equal(outcomeOf('timeout'), 'dropped');
    assert.equal(outcomeOf('error'), 'ignore');
    assert.equal(outcomeOf('shed'), 'ignore');
  });
});
