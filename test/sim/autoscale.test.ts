import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { AutoscaleRecord } from '../../src/sim/autoscale.ts';
import type { PolicySpec, Scenario, SimResult } from '../../src/sim/run.ts';
import {
  compareScaling,
  runScaling,
  type ScalingComparison,
  type ScalingRun,
  scalingMetrics,
} from '../../src/sim/scaling-report.ts';
import { scalingBenchmarks } from '../../src/sim/scenarios/index.ts';
import { rejectsOption } from './helpers.ts';

const S = 1000;
const MIN = 60 * S;

/**
 * A fleet whose utilisation is known exactly: evenly spaced arrivals at `rate` per second, each taking
 * 100 ms on one of a replica's 4 servers, so `rate` requests per second keep `rate / 10` servers busy and
 * five replicas run at `rate / 200`. New replicas serve 20 s after they are asked for. At most 100 requests
 * wait, so that an overload leaves no backlog that would keep new replicas busy after it.
 */
function fleet(
  rate: number | readonly { at: number; rate: number }[],
  policy: PolicySpec | readonly PolicySpec[],
  options: { duration?: number; replicas?: number } = {},
): Scenario {
  return {
    seed: 1,
    duration: options.duration ?? 10 * MIN,
    workload:
      typeof rate === 'number'
        ? { type: 'constant', rate }
        : { type: 'profile', points: rate, interpolate: 'step' },
    downstream: {
      service: 100,
      concurrency: 4,
      queue: 100,
      replicas: { count: options.replicas ?? 5, startup: 20 * S },
    },
    policy,
  };
}

const hpa: PolicySpec = { type: 'autoscale', preset: 'hpa', max: 40 };

async function decisions(scenario: Scenario): Promise<{ run: ScalingRun; changes: AutoscaleRecord[] }> {
  const run = await runScaling(scenario, { name: 'p', policy: scenario.policy! });
  return { run, changes: run.decisions.filter((d) => d.direction !== 'hold') };
}

describe('autoscale policy', () => {
  it('scales the downstream to the load, deciding every interval at the tick’s own time', async () => {
    const { run, changes } = await decisions(
      fleet(300, { type: 'autoscale' }, { replicas: 2, duration: 5 * MIN }),
    );
    // 300 requests per second keep 30 servers busy: 7.5 replicas' worth, 12.5 at the 60% target.
    assert.equal(changes[0]!.direction, 'up');
    assert.equal(changes[0]!.at, 15 * S);
    run.decisions.forEach((d, i) => {
      assert.equal(d.at, (i + 1) * 15 * S, `decision ${d.seq} at its tick`);
      assert.equal(d.deliveredAt, d.at, `decision ${d.seq} settled at its tick`);
    });
    const last = run.decisions.at(-1)!;
    assert.ok(last.to >= 12 && last.to <= 14, `settled at ${last.to}`);
    const gauges = run.result.summary.gauges;
    assert.equal(gauges['desired']!.max, last.to);
    assert.equal(gauges['replicas']!.min, 2);
    assert.equal(gauges['replicas']!.max, last.to);
    // Refused while the first replicas started; none once they served.
    const { series } = run.result;
    const refused = (from: number) => series.overload.slice(from).reduce((a, b) => a + b, 0);
    assert.ok(refused(0) > 0);
    assert.equal(refused(60), 0);
  });

  it('sees the whole load in front of a limiter, and still decides at its ticks', async () => {
    const { run } = await decisions(
      fleet(300, [{ type: 'autoscale' }, { type: 'limiter' }], { replicas: 2, duration: 3 * MIN }),
    );
    assert.equal(run.result.settings.policy, 'autoscale:sluice+limiter');
    for (const d of run.decisions) assert.equal(d.deliveredAt, d.at);
    assert.ok(run.decisions.at(-1)!.to >= 12);
    assert.ok(run.result.summary.gauges['limit'] !== undefined);
  });

  it('holds the fleet with preset "static", still reporting the replicas asked for', async () => {
    const { run } = await decisions(fleet(300, { type: 'autoscale', preset: 'static' }, { duration: MIN }));
    assert.deepEqual(run.decisions, []);
    assert.equal(run.info?.preset, 'static');
    assert.deepEqual(run.result.summary.gauges['desired'], { mean: 5, min: 5, max: 5 });
  });

  it('gives the same decisions for the same seed', async () => {
    const scenario = { ...fleet(300, { type: 'autoscale' }, { replicas: 2, duration: 2 * MIN }), seed: 7 };
    scenario.workload = { type: 'poisson', rate: 300 };
    const [a, b] = [await decisions(scenario), await decisions(scenario)];
    assert.deepEqual(a.run.decisions, b.run.decisions);
    assert.deepEqual(a.run.result.series, b.run.result.series);
  });

  it('reports a bad option with its path in the scenario', async () => {
    const run = (policy: Record<string, unknown>) => decisions(fleet(100, { type: 'autoscale', ...policy }));
    await rejectsOption(() => run({ bogus: 1 }), 'policy.bogus');
    await rejectsOption(() => run({ preset: 'keda' }), 'policy.preset');
    await rejectsOption(() => run({ signal: 'cpu' }), 'policy.signal');
    await rejectsOption(() => run({ preset: 'static', max: 3 }), 'policy.max');
    await rejectsOption(() => run({ min: 4, max: 3 }), 'policy.max');
    await rejectsOption(() => run({ interval: 0 }), 'policy.interval');
    await rejectsOption(() => run({ tolerance: 1 }), 'policy.tolerance');
    await rejectsOption(() => run({ behavior: { scaleDwn: {} } }), 'policy.behavior.scaleDwn');
    await rejectsOption(
      () => run({ behavior: { scaleDown: { stabilizationWindowMs: -1 } } }),
      'policy.behavior.scaleDown.stabilizationWindowMs',
    );
  });
});

describe('autoscale policy: the HPA baseline', () => {
  it('sizes by ceil(ready x utilisation / target) on the ready replicas, every 15 s', async () => {
    // 180 requests per second: five replicas at 90%, 1.5 times the 60% target.
    const { run, changes } = await decisions(fleet(180, hpa, { duration: 2 * MIN }));
    assert.equal(changes.length, 1);
    assert.deepEqual(
      { at: changes[0]!.at, from: changes[0]!.from, to: changes[0]!.to, rule: changes[0]!.rule },
      { at: 15 * S, from: 5, to: 8, rule: 'hpa:utilisation' },
    );
    assert.match(
      changes[0]!.summary,
      /utilisation 0\.8\d+ is 1\.4\d+x the target 0\.6 on 5 replicas ready: ceil\(5 x 1\.4\d+\) = 8/,
    );
    // While the three start, they count as idle: the same load fits the 8 asked for, so it holds.
    assert.match(run.decisions[1]!.summary, /the 3 starting cover it: hold 8/);
    assert.deepEqual(
      run.decisions.map((d) => d.at),
      Array.from({ length: 8 }, (_, i) => (i + 1) * 15 * S),
    );
  });

  it('holds within the 10% tolerance band, and scales just outside it', async () => {
    // 65% and 56% utilisation: ratios 1.08 and 0.93 of the target.
    for (const rate of [130, 112]) {
      const { changes } = await decisions(fleet(rate, hpa, { duration: 8 * MIN }));
      assert.deepEqual(changes, [], `at ${rate / 200} utilisation`);
    }
    // 70%: a ratio of 1.17, out of the band: ceil(5 x 1.17) = 6.
    const { changes } = await decisions(fleet(140, hpa, { duration: 2 * MIN }));
    assert.deepEqual(
      changes.map((d) => [d.at, d.to]),
      [[15 * S, 6]],
    );
  });

  it('never scales down below a recommendation of the last 300 s', async () => {
    // 90% utilisation for two minutes (scaled up to 8), then 60 requests per second.
    const { run, changes } = await decisions(
      fleet(
        [
          { at: 0, rate: 180 },
          { at: 2 * MIN, rate: 60 },
        ],
        hpa,
        { duration: 12 * MIN },
      ),
    );
    const downs = changes.filter((d) => d.direction === 'down');
    assert.ok(downs.length > 0);
    for (const d of downs) {
      const window = run.decisions.filter((r) => r.at > d.at - 300 * S && r.at <= d.at);
      const highest = Math.max(...window.map((r) => Math.min(Math.max(r.proposed, 1), 40)));
      assert.equal(d.to, highest, `#${d.seq} at ${d.at / S} s`);
    }
    const lastHigh = Math.max(...run.decisions.filter((r) => r.proposed >= 8).map((r) => r.at));
    assert.ok(lastHigh <= 2 * MIN + 15 * S, `still wanted 8 at ${lastHigh / S} s`);
    assert.equal(
      downs[0]!.at,
      lastHigh + 300 * S,
      'the first scale-down comes 300 s after the last high one',
    );
  });

  it('does not scale down in its first 300 s, as the HPA records its first count as a recommendation', async () => {
    // 20% utilisation from the start: the HPA wants 2, but only from 300 s after its first decision.
    const { changes } = await decisions(fleet(40, hpa, { duration: 8 * MIN }));
    assert.deepEqual(
      changes.map((d) => [d.at, d.from, d.to]),
      [[315 * S, 5, 2]],
    );
  });

  it('adds at most 100% or 4 replicas per 15 s, whichever is more', async () => {
    // Two saturated replicas against a 20% target: the rule wants ceil(2 x 5) = 10; the rate allows 6.
    const { changes } = await decisions(
      fleet(100, { ...hpa, target: 0.2 }, { replicas: 2, duration: 20 * S }),
    );
    assert.equal(changes[0]!.proposed, 10);
    assert.equal(changes[0]!.to, 6);
    assert.deepEqual(changes[0]!.clamps, ['scaleUp.rate 10→6']);
  });
});

describe('scaling metrics', () => {
  // 40 one-second buckets: 100 answers each, all within the SLO but for 60 in bucket 25.
  const n = 40;
  const fill = (v: number) => new Array<number>(n).fill(v);
  const within = fill(100);
  within[25] = 40;
  const result = {
    settings: { duration: n * S, warmup: 0, slo: { latency: 500, target: 0.99 } },
    summary: { slo: { attainment: 0.985 } },
    series: {
      bucket: S,
      time: Array.from({ length: n }, (_, i) => i * S),
      success: fill(100),
      successWithinSlo: within,
      errors: fill(0),
      overload: fill(0),
      timeouts: fill(0),
      shed: fill(0),
      gauges: { desired: [...fill(4).slice(0, 20), ...fill(8).slice(0, 20)], replicas: fill(4) },
    },
  } as unknown as SimResult;
  const record = (at: number, direction: AutoscaleRecord['direction']): AutoscaleRecord => ({
    seq: at,
    at: at * S,
    from: 0,
    proposed: 0,
    to: direction === 'up' ? 8 : 4,
    ready: 0,
    direction,
    rule: 'r',
    clamps: [],
    summary: '',
    deliveredAt: at * S,
  });
  const info = {
    preset: 'sluice',
    interval: 15 * S,
    min: 1,
    max: 10,
    scaleUpWindow: 0,
    scaleDownWindow: 90 * S,
  } as const;

  it('counts 10-second windows below the SLO target as violation seconds, and integrates the replicas asked for', () => {
    const m = scalingMetrics(result, [], info);
    assert.equal(m.sloViolationSeconds, 10, 'only the window of bucket 25 (940 of 1000) misses 99%');
    assert.equal(scalingMetrics(result, [], info, { window: S }).sloViolationSeconds, 1);
    assert.equal(m.replicaSeconds, 20 * 4 + 20 * 8);
    assert.equal(m.readyReplicaSeconds, 40 * 4);
    assert.equal(m.peakReplicas, 8);
  });

  it('counts reversals, and those sooner than the window of their direction', () => {
    const m = scalingMetrics(
      result,
      [record(15, 'up'), record(30, 'hold'), record(90, 'down'), record(120, 'up'), record(300, 'down')],
      info,
    );
    assert.equal(m.changes, 4);
    assert.equal(m.reversals, 3);
    // Down 75 s after an up (window 90 s): inside. Up 30 s after a down: the scale-up window is 0.
    assert.equal(m.reversalsInsideWindow, 1);
    assert.equal(m.shortestReversalGap, 30 * S);
  });

  it('counts the decision cycles until a spike’s replicas were asked for', () => {
    const d = [record(15, 'hold'), record(30, 'up'), record(45, 'up')].map((r, i) => ({
      ...r,
      to: 4 + 4 * i,
    }));
    const spike = { at: 20 * S, replicas: 12 };
    assert.equal(scalingMetrics(result, d, info, { spike }).spikeCycles, 2);
    assert.equal(scalingMetrics(result, d, info, { spike }).spikeAskedAfter, 25 * S);
    assert.equal(scalingMetrics(result, d, info, { spike: { ...spike, replicas: 13 } }).spikeCycles, null);
  });
});

/**
 * The proof of issue 6: each scaling scenario run with the starting fleet, the Kubernetes HPA baseline and
 * sluice's autoscaler (same seed). The figures are printed by `npm run bench:scale`.
 */
describe('scaling benchmarks: sluice against the HPA baseline', () => {
  const results = new Map<string, ScalingComparison>();
  const run = (name: string, policy: string) =>
    results.get(name)!.runs.find((r) => r.name === policy)!.metrics;

  before(async () => {
    for (const b of scalingBenchmarks) results.set(b.name, await compareScaling(b));
  });

  for (const b of scalingBenchmarks) {
    it(`${b.name}: fewer SLO-violation seconds than the HPA, at no more replica-seconds`, () => {
      const [h, s] = [run(b.name, 'hpa'), run(b.name, 'sluice')];
      const figures = `sluice ${s.sloViolationSeconds} s / ${Math.round(s.replicaSeconds)} replica-s, hpa ${h.sloViolationSeconds} s / ${Math.round(h.replicaSeconds)} replica-s`;
      assert.ok(s.sloViolationSeconds < h.sloViolationSeconds, figures);
      assert.ok(s.replicaSeconds <= h.replicaSeconds, figures);
      // Scaling is worth it: the starting fleet left alone misses the SLO far longer.
      assert.ok(run(b.name, 'static').sloViolationSeconds > 2 * h.sloViolationSeconds);
    });
  }

  it('no direction reversal inside a stabilization window, for either autoscaler', () => {
    for (const [name, c] of results) {
      for (const r of c.runs) {
        assert.equal(r.metrics.reversalsInsideWindow, 0, `${name} ${r.name}`);
        for (const d of r.decisions) assert.equal(d.deliveredAt, d.at, `${name} ${r.name} #${d.seq}`);
      }
    }
  });

  it('scaling-flash-crowd: sluice asks for the 5x spike’s replicas within 2 decision cycles', () => {
    const s = run('scaling-flash-crowd', 'sluice');
    const h = run('scaling-flash-crowd', 'hpa');
    assert.ok(s.spikeCycles !== null && s.spikeCycles <= 2, `sluice took ${s.spikeCycles} cycles`);
    // The HPA on CPU sees at most 100%: 1/0.6 more per step, each step waiting for its replicas.
    assert.ok(h.spikeCycles === null || h.spikeCycles > 2, `hpa took ${h.spikeCycles} cycles`);
  });
});
