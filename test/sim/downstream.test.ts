import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Scenario, simulate } from '../../src/sim/run.ts';
import type { SimSeries } from '../../src/sim/stats.ts';
import { rejectsOption, sum, within } from './helpers.ts';

/** Values of a per-second series over seconds [from, to). */
function secs<T>(series: readonly T[], from: number, to: number): T[] {
  return series.slice(from, to);
}

function meanOf(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => x !== null);
  return sum(v) / v.length;
}

function run(
  scenario: Partial<Scenario> & Pick<Scenario, 'downstream'>,
): Promise<{ series: SimSeries } & Awaited<ReturnType<typeof simulate>>> {
  return simulate({ duration: 30_000, workload: { type: 'poisson', rate: 500 }, ...scenario });
}

describe('downstream', () => {
  it('serves at most concurrency x (1000 / service) per second and follows a capacity schedule', async () => {
    const { series } = await run({
      downstream: {
        service: 10,
        concurrency: 10,
        schedule: [
          { at: 10_000, concurrency: 2 },
          { at: 20_000, concurrency: 10, speed: 2 },
        ],
      },
    });
    within(meanOf(secs(series.success, 1, 10)), 500, 25, 'healthy');
    within(meanOf(secs(series.success, 11, 20)), 200, 2, 'at concurrency 2');
    within(meanOf(secs(series.gauges['capacity']!, 11, 20)), 2, 0, 'capacity gauge');
    assert.ok(series.gauges['backlog']![19]! > 2000, 'a backlog builds while overloaded');
    // Twice as fast and five times as wide: 2000/s drains the backlog.
    assert.ok(series.success[21]! > 1500);
    within(series.gauges['backlog']![29] ?? 0, 0, 5, 'drained');
  });

  it('answers "overload" at once when its queue is full', async () => {
    const result = await run({ downstream: { service: 10, concurrency: 2, queue: 5 } });
    const s = result.summary;
    within(s.success / 30, 200, 5);
    assert.ok(s.overload > 8000);
    assert.equal(s.offered, s.success + s.overload + s.unanswered);
    assert.ok(result.summary.gauges['backlog']!.max! <= 5);
  });

  it('serves its queue last-in first-out when asked', async () => {
    const fifo = await run({
      downstream: { service: 10, concurrency: 4, order: 'fifo' },
      workload: { type: 'poisson', rate: 420 },
    });
    const lifo = await run({
      downstream: { service: 10, concurrency: 4, order: 'lifo' },
      workload: { type: 'poisson', rate: 420 },
    });
    // Same mean wait (work-conserving), but LIFO's tail is far longer and its median far shorter.
    assert.ok(lifo.summary.latency.p50! < fifo.summary.latency.p50!);
    assert.ok(lifo.summary.latency.max! > 2 * fifo.summary.latency.max!);
  });

  it('stretches service times during a latency spike', async () => {
    const { series } = await run({
      downstream: {
        service: 10,
        faults: [{ type: 'latency', at: 10_000, duration: 5000, factor: 3, add: 5 }],
      },
    });
    within(meanOf(secs(series.latency.p50, 2, 10)), 10, 0.2);
    within(meanOf(secs(series.latency.p50, 11, 15)), 35, 0.6);
    within(meanOf(secs(series.latency.p50, 16, 30)), 10, 0.2);
  });

  it('fails a share of requests during an error burst, fast when given a latency', async () => {
    const { series, summary } = await run({
      downstream: {
        service: 10,
        faults: [{ type: 'errors', at: 10_000, duration: 10_000, rate: 0.4, latency: 1 }],
      },
    });
    assert.equal(sum(secs(series.errors, 0, 10)), 0);
    const errors = sum(secs(series.errors, 10, 20));
    const total = errors + sum(secs(series.success, 10, 20));
    within(errors / total, 0.4, 0.02);
    assert.equal(summary.overload, 0);
  });

  it('refuses everything during an outage, then recovers slowly', async () => {
    const { series } = await run({
      downstream: {
        service: 10,
        faults: [{ type: 'outage', at: 10_000, duration: 5000, recovery: 10_000, recoveryFactor: 3 }],
      },
    });
    // Requests already in service when it began still finish (within 10 ms).
    assert.ok(series.success[10]! < 10);
    assert.equal(sum(secs(series.success, 11, 15)), 0);
    within(meanOf(secs(series.overload, 10, 15)), 500, 40);
    // Recovery: service time 30 ms at the outage's end, back to 10 ms ten seconds later.
    within(series.latency.mean[15]!, 29, 1.5);
    within(series.latency.mean[20]!, 19, 1.5);
    within(series.latency.mean[26]!, 10, 0.5);
  });

  it('holds requests that start during a hanging outage until it ends', async () => {
    const result = await run({
      downstream: { service: 10, faults: [{ type: 'outage', at: 10_000, duration: 2000, mode: 'hang' }] },
    });
    const s = result.series;
    assert.ok(s.success[10]! < 10);
    assert.equal(s.success[11], 0);
    assert.ok(s.success[12]! > 900, 'the held requests complete together');
    assert.ok(result.summary.latency.max! > 1990);
  });

  it('adds replicas after their start-up delay and drains removed ones', async () => {
    const { series } = await run({
      workload: { type: 'poisson', rate: 100 },
      downstream: {
        service: 10,
        concurrency: 4,
        replicas: {
          count: 1,
          startup: 5000,
          schedule: [
            { at: 10_000, count: 3 },
            { at: 22_000, count: 2 },
          ],
        },
      },
    });
    const replicas = series.gauges['replicas']!;
    assert.deepEqual([replicas[9], replicas[12], replicas[16], replicas[25]], [1, 1, 3, 2]);
    assert.equal(series.gauges['capacity']![16], 12);
  });

  it('lets a policy scale it through the context', async () => {
    const result = await simulate(
      {
        duration: 10_000,
        workload: { type: 'constant', rate: 10 },
        downstream: { service: 1, concurrency: 1, replicas: { startup: 1000 } },
        policy: { type: 'scaler' },
      },
      {
        policies: {
          scaler: (_spec, context) => {
            context.clock.setTimer(() => context.downstream.scale(4), 2000);
            return {
              name: 'scaler',
              gaugeNames: [],
              offer: (r, gate) => gate.admit(r),
              settle() {},
              gauges: () => [],
            };
          },
        },
      },
    );
    const replicas = result.series.gauges['replicas']!;
    assert.equal(replicas[2], 1);
    assert.equal(replicas[3], 4);
  });

  it('stretches service time with contention', async () => {
    const result = await simulate({
      duration: 10_000,
      workload: { type: 'constant', rate: 1000 },
      downstream: { service: 3, contention: 0.5 },
    });
    // Constant 1 ms spacing, 3 ms base work: each request starts with about two others in service.
    assert.ok(result.summary.latency.p50! > 3 * (1 + 0.5 * 2) * 0.9);
  });

  it('times a call out on the policy side while the work goes on (late work)', async () => {
    const result = await simulate({
      duration: 10_000,
      workload: { type: 'constant', rate: 100 },
      downstream: { service: { type: 'uniform', min: 0, max: 100 }, timeout: 50 },
    });
    const s = result.summary;
    within(s.timeouts / s.offered, 0.5, 0.05);
    within(s.late, s.timeouts, 3);
    assert.ok(s.latency.max! <= 50);
  });

  it('names the path of a bad downstream option', async () => {
    const workload = { type: 'poisson' as const, rate: 1 };
    await rejectsOption(
      () => simulate({ duration: 1, workload, downstream: { service: 1, concurrency: 0 } }),
      'downstream.concurrency',
    );
    await rejectsOption(() => simulate({ duration: 1, workload } as never), 'downstream');
    await rejectsOption(
      () =>
        simulate({
          duration: 1,
          workload,
          downstream: { service: 1, faults: [{ type: 'errors', at: 0, duration: 1, rate: 2 }] },
        }),
      'downstream.faults[0].rate',
    );
    await rejectsOption(
      () => simulate({ duration: 1, workload, downstream: { service: 1, schedule: [{ at: 5 }] } }),
      'downstream.schedule[0]',
    );
    await rejectsOption(
      () => simulate({ duration: 1, workload, downstream: { service: 1, replicas: { count: -1 } } }),
      'downstream.replicas.count',
    );
  });
});
