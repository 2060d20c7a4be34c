import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Scenario, Simulation, simulate } from '../../src/sim/run.ts';
import { rejectsOption, sum } from './helpers.ts';

/** A scenario with something of everything: several sources, retries, faults, a queue and a policy. */
function busy(seed: number | string, duration = 20_000): Scenario {
  return {
    seed,
    duration,
    warmup: 2000,
    workload: [
      { type: 'poisson', rate: 300, priority: { critical: 1, normal: 3, sheddable: 1 }, timeout: 500 },
      {
        type: 'onoff',
        rate: 400,
        on: 2000,
        off: 3000,
        random: true,
        weight: { 1: 3, 2: 1 },
        retry: { attempts: 2, backoff: { initial: 50 } },
      },
    ],
    downstream: {
      service: { type: 'lognormal', median: 15, p99: 120 },
      concurrency: 8,
      queue: 50,
      errorRate: 0.01,
      faults: [{ type: 'latency', at: 8000, duration: 3000, factor: 2 }],
    },
    policy: { type: 'static', limit: 10, queue: 20, timeout: 200 },
    slo: { latency: 100 },
  };
}

describe('simulate', () => {
  it('gives byte-identical results for the same seed', async () => {
    const a = JSON.stringify(await simulate(busy(42)));
    const b = JSON.stringify(await simulate(busy(42)));
    assert.equal(a, b);
  });

  it('gives the same result through the real limiter for the same seed', async () => {
    const scenario: Scenario = { ...busy('limiter'), policy: { type: 'limiter', queue: { size: 50 } } };
    assert.equal(JSON.stringify(await simulate(scenario)), JSON.stringify(await simulate(scenario)));
  });

  it('gives different results for different seeds', async () => {
    const a = await simulate(busy(1));
    const b = await simulate(busy(2));
    assert.notEqual(JSON.stringify(a.summary), JSON.stringify(b.summary));
    assert.notDeepEqual(a.series.offered, b.series.offered);
  });

  it('meets the same arrivals and service demands whatever the policy (common random numbers)', async () => {
    const base = { ...busy(9), workload: { type: 'poisson' as const, rate: 300 }, record: true };
    const none = await simulate({ ...base, policy: { type: 'none' } });
    const strict = await simulate({ ...base, policy: { type: 'static', limit: 3 } });
    // Records are written when attempts end; all those that arrived a second before the end have ended.
    const arrivals = (r: typeof none) =>
      r
        .records!.filter((x) => x.arrivedAt < 19_000)
        .map((x) => x.arrivedAt)
        .sort((a, b) => a - b);
    assert.deepEqual(arrivals(none), arrivals(strict));
    assert.deepEqual(none.series.offered, strict.series.offered);
    assert.ok(strict.summary.shed > 0);
  });

  it('accounts for every attempt exactly once', async () => {
    const { summary: s, series } = await simulate({ ...busy(3), warmup: 0 });
    assert.equal(s.offered, s.shed + s.success + s.errors + s.overload + s.timeouts + s.unanswered);
    assert.equal(s.offered, sum(series.offered));
    assert.equal(s.success, sum(series.success));
    assert.equal(s.completed, s.success + s.errors + s.overload);
    assert.equal(s.completed, sum(series.completed));
    assert.equal(s.shed, sum(series.shed));
    assert.equal(s.shed, sum(Object.values(s.shedByReason)));
    assert.equal(s.shed, sum(Object.values(s.shedByPriority)));
    assert.equal(s.offered, sum(s.bySource.map((x) => x.offered)));
    assert.equal(s.retries, sum(series.retries));
    for (const [reason, list] of Object.entries(series.shedByReason))
      assert.equal(sum(list), s.shedByReason[reason]);
    assert.ok(s.successWithinSlo <= s.success);
    assert.ok(s.clients.requests >= s.clients.succeeded + s.clients.failed);
  });

  it('leaves the warmup out of the summary but not out of the series', async () => {
    const all = await simulate({ ...busy(4), warmup: 0 });
    const warm = await simulate({ ...busy(4), warmup: 10_000 });
    assert.deepEqual(warm.series.offered, all.series.offered);
    assert.equal(warm.summary.offered, sum(all.series.offered.slice(10)));
    assert.equal(warm.summary.duration, 10_000);
  });

  it('reports the settings it ran with', async () => {
    const r = await simulate({ ...busy(5), name: 'busy', duration: 10_000 });
    assert.deepEqual(r.settings.sources, [
      { name: 'poisson', type: 'poisson', meanRate: 300 },
      { name: 'onoff', type: 'onoff', meanRate: 160 },
    ]);
    assert.equal(r.settings.name, 'busy');
    assert.equal(r.settings.policy, 'static');
    assert.equal(r.settings.bucket, 1000);
    assert.equal(r.settings.downstream.concurrency, 8);
    assert.deepEqual(r.settings.slo, { latency: 100, target: 0.99 });
    assert.equal(r.series.time.length, 10);
  });

  it('keeps memory bounded: series of at most maxBuckets points, and no per-request records unless asked', async () => {
    const short = await simulate({ ...busy(6, 20_000), maxBuckets: 10 });
    const long = await simulate({ ...busy(6, 200_000), maxBuckets: 10 });
    for (const r of [short, long]) {
      assert.equal(r.series.time.length, 10);
      assert.equal(r.series.offered.length, 10);
      assert.equal(r.series.latency.p99.length, 10);
      for (const list of Object.values(r.series.gauges)) assert.equal(list.length, 10);
      assert.equal(r.records, undefined);
    }
    assert.equal(long.settings.bucket, 20_000);
    assert.ok(long.summary.offered > 9 * short.summary.offered);
    // The whole result of a ten-times-longer run is the same size, give or take digits.
    const size = (x: unknown) => JSON.stringify(x).length;
    assert.ok(size(long) < 1.3 * size(short), `${size(long)} vs ${size(short)}`);
    const recorded = await simulate({ ...busy(6, 5000), record: true });
    assert.equal(
      recorded.records!.length,
      recorded.summary.offered - recorded.summary.unanswered + countWarm(recorded),
    );
  });

  it('reports progress once per bucket and stops when aborted', async () => {
    const seen: number[] = [];
    await simulate({ ...busy(7), duration: 5000 }, { onProgress: (now) => seen.push(now) });
    assert.deepEqual(seen, [0, 1000, 2000, 3000, 4000, 5000]);
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await assert.rejects(simulate(busy(7), { signal: controller.signal }), /stopped/);
  });

  it('runs custom policy types and pipelines of policies', async () => {
    const seen: string[] = [];
    const r = await simulate(
      { ...busy(8), policy: [{ type: 'audit' }, { type: 'static', limit: 2 }] },
      {
        policies: {
          audit: () => ({
            name: 'audit',
            gaugeNames: ['limit'],
            offer: (request, gate) => gate.admit(request, request.id),
            settle: (_request, _token, settlement) => seen.push(settlement),
            gauges: () => [99],
          }),
        },
      },
    );
    assert.equal(r.settings.policy, 'audit+static');
    assert.deepEqual(Object.keys(r.series.gauges), [
      'limit',
      'static.limit',
      'inflight',
      'queued',
      'busy',
      'backlog',
      'capacity',
      'replicas',
    ]);
    // The audit stage hears of attempts the static stage shed after it had admitted them.
    assert.ok(seen.includes('shed') && seen.includes('success'));
  });

  it('settles promises for as many microtask turns as its policy says it needs', () => {
    const base = busy(1, 1000);
    const custom = { name: 'c', gaugeNames: [], offer() {}, settle() {}, gauges: () => [] };
    const rounds = (policy: Scenario['policy'], settleRounds?: number) =>
      new Simulation(
        { ...base, warmup: 0, ...(policy === undefined ? {} : { policy }) },
        { policies: { custom: () => custom, deep: () => ({ ...custom, settleRounds: 6 }) }, settleRounds },
      ).engine.settleRounds;
    assert.equal(rounds({ type: 'limiter' }), 1);
    assert.equal(rounds({ type: 'custom' }), 3);
    assert.equal(rounds([{ type: 'limiter' }, { type: 'deep' }]), 6);
    assert.equal(rounds({ type: 'limiter' }, 4), 4);
  });

  it('names the path of a bad scenario value', async () => {
    const good = busy(1, 5000);
    await rejectsOption(() => simulate({ ...good, duration: 0 }), 'duration');
    await rejectsOption(() => simulate({ ...good, durration: 5 } as never), 'durration');
    await rejectsOption(() => simulate({ ...good, seed: Number.NaN }), 'seed');
    await rejectsOption(() => simulate({ ...good, slo: { latency: -1 } }), 'slo.latency');
    await rejectsOption(() => simulate({ ...good, policy: { type: 'magic' } }), 'policy.type');
    await rejectsOption(
      () => simulate({ ...good, policy: [{ type: 'none' }, { type: 'static' }] }),
      'policy[1].limit',
    );
    await rejectsOption(
      () => simulate({ ...good, policy: { type: 'static', limit: 1, qeue: 2 } }),
      'policy.qeue',
    );
    await rejectsOption(() => simulate({ ...good, workload: undefined } as never), 'workload');
  });
});

/** Attempts that ended before the warmup are recorded but not counted in the summary. */
function countWarm(r: Awaited<ReturnType<typeof simulate>>): number {
  return r.records!.filter((x) => x.arrivedAt < r.summary.warmup).length;
}
