import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import type { PolicyGate } from '../../src/sim/policy.ts';
import type { SimRequest } from '../../src/sim/request.ts';
import { simulate } from '../../src/sim/run.ts';
import { parseTrace } from '../../src/sim/trace.ts';
import { sources } from '../../src/sim/workload.ts';
import { rejectsOption, sum, within } from './helpers.ts';

/** Arrival times of a single source in [0, until). */
function arrivals(spec: Record<string, unknown>, until: number, seed = 5): number[] {
  const [source] = sources(spec, 'workload', seed);
  const out: number[] = [];
  for (let t = source!.next(source!.start); t < until; t = source!.next(t)) out.push(t);
  return out;
}

function countIn(ts: readonly number[], from: number, to: number): number {
  return ts.filter((t) => t >= from && t < to).length;
}

describe('workload: arrival processes', () => {
  it('sends Poisson arrivals at the given rate, with exponential gaps (CV 1)', () => {
    const ts = arrivals({ type: 'poisson', rate: 500 }, 1_000_000);
    within(ts.length, 500_000, 3 * Math.sqrt(500_000)); // 3 sd of a Poisson count
    const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
    const m = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - m) ** 2, 0) / gaps.length);
    within(m, 2, 0.01);
    within(sd / m, 1, 0.01);
  });

  it('spaces constant-rate arrivals evenly', () => {
    const ts = arrivals({ type: 'constant', rate: 4 }, 2001);
    assert.deepEqual(ts, [250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
  });

  it('sends on/off bursts only while on, at the on rate (duty cycle on / (on + off))', () => {
    const ts = arrivals({ type: 'onoff', rate: 100, on: 2000, off: 3000 }, 500_000);
    assert.ok(
      ts.every((t) => t % 5000 < 2000),
      'an arrival fell in an off spell',
    );
    within(ts.length / 500, 40, 1.5); // 100/s for 40% of the time
    within(countIn(ts, 0, 2000), 200, 3 * Math.sqrt(200));
  });

  it('keeps the duty cycle with random (exponential) on and off spells', () => {
    const ts = arrivals(
      { type: 'onoff', rate: 200, offRate: 20, on: 1000, off: 4000, random: true },
      2_000_000,
    );
    within(ts.length / 2000, 200 * 0.2 + 20 * 0.8, 3); // 56/s
  });

  it('modulates the rate by a Markov chain (time in each state in proportion to its mean holding time)', () => {
    const spec = {
      type: 'mmpp',
      states: [
        { rate: 100, mean: 1000 },
        { rate: 500, mean: 3000 },
      ],
    };
    const ts = arrivals(spec, 4_000_000);
    within(ts.length / 4000, 100 * 0.25 + 500 * 0.75, 12); // 400/s
    // Three states with a transition matrix: 0 -> 1 -> 2 -> 0 always.
    const cyc = {
      type: 'mmpp',
      states: [
        { rate: 0, mean: 1000 },
        { rate: 300, mean: 1000 },
        { rate: 600, mean: 1000 },
      ],
      transitions: [
        [0, 1, 0],
        [0, 0, 1],
        [1, 0, 0],
      ],
    };
    within(arrivals(cyc, 3_000_000).length / 3000, 300, 12);
  });

  it('follows a daily cosine between min and max, peaking at peakAt', () => {
    const ts = arrivals({ type: 'diurnal', min: 10, max: 210, period: 100_000, peakAt: 50_000 }, 1_000_000);
    within(ts.length / 1000, 110, 2); // the mean of the cosine
    let peak = 0;
    let trough = 0;
    for (let k = 0; k < 10; k++) {
      peak += countIn(ts, k * 100_000 + 48_000, k * 100_000 + 52_000);
      trough += countIn(ts, k * 100_000 + 98_000, k * 100_000 + 102_000);
    }
    within(peak / 40, 210, 10); // ~207 averaged over the 4 s window
    within(trough / 40, 10, 3);
  });

  it('adds flash-crowd spikes with ramps to a base rate', () => {
    const spec = {
      type: 'spike',
      rate: 100,
      spikes: [{ at: 10_000, rate: 1000, rampUp: 2000, hold: 5000, rampDown: 2000 }],
    };
    const ts = arrivals(spec, 30_000);
    within(countIn(ts, 0, 10_000), 1000, 100);
    within(countIn(ts, 12_000, 17_000), 5000, 220);
    within(countIn(ts, 10_000, 12_000), 1100, 100); // ramp: mean of 100 and 1000 over 2 s
    within(countIn(ts, 19_000, 30_000), 1100, 100);
  });

  it('follows a rate profile, linear between points or in steps', () => {
    const ramp = arrivals(
      {
        type: 'profile',
        points: [
          { at: 0, rate: 0 },
          { at: 20_000, rate: 1000 },
        ],
      },
      20_000,
    );
    within(ramp.length, 10_000, 300);
    within(countIn(ramp, 15_000, 20_000), 5000 * 0.875, 200);
    const steps = arrivals(
      {
        type: 'profile',
        interpolate: 'step',
        points: [
          { at: 0, rate: 100 },
          { at: 5000, rate: 400 },
        ],
      },
      10_000,
    );
    within(countIn(steps, 0, 5000), 500, 70);
    within(countIn(steps, 5000, 10_000), 2000, 140);
  });

  it('sends only within [start, end)', () => {
    const ts = arrivals({ type: 'poisson', rate: 1000, start: 2000, end: 3000 }, 10_000);
    assert.ok(ts.length > 800 && ts[0]! >= 2000 && ts[ts.length - 1]! < 3000);
  });
});

describe('workload: request attributes and retries', () => {
  it('draws priorities and weights in the given proportions', async () => {
    const result = await simulate({
      duration: 100_000,
      workload: { type: 'poisson', rate: 200, priority: { critical: 1, normal: 3 }, weight: { 1: 1, 4: 1 } },
      downstream: { service: 1 },
      policy: { type: 'static', limit: 1_000_000 },
    });
    const by = result.summary.byPriority;
    const total = by['critical']!.offered + by['normal']!.offered;
    within(by['critical']!.offered / total, 0.25, 0.01);
    // Weights 1 and 4 equally often: the static limit sees a mean in-flight weight of 2.5 per request.
    const inflight = result.summary.gauges['inflight']!.mean!;
    within(inflight, 200 * 0.001 * 2.5, 0.1);
  });

  it('retries failed attempts, so a failing downstream sees more attempts than clients send (a retry storm)', async () => {
    const result = await simulate({
      duration: 100_000,
      workload: { type: 'poisson', rate: 100, retry: { attempts: 3, backoff: 0 } },
      downstream: { service: 5, errorRate: 0.5 },
    });
    const s = result.summary;
    // Each attempt fails with probability 1/2: 1 + 1/2 + 1/4 + 1/8 attempts per client request.
    within(s.offered / s.clients.requests, 1.875, 0.03);
    within(s.clients.failed / s.clients.requests, 1 / 16, 0.01);
    assert.equal(s.retries, s.offered - s.clients.requests);
    within(s.clients.attemptsPerRequest!, 1.875, 0.03);
  });

  it('shows a retry storm: after a capacity dip, impatient retrying clients keep the downstream from recovering', async () => {
    const run = (retry: { attempts: number; backoff: number } | undefined) =>
      simulate({
        seed: 1,
        duration: 30_000,
        workload: { type: 'poisson', rate: 300, timeout: 200, ...(retry === undefined ? {} : { retry }) },
        downstream: {
          service: { type: 'exponential', mean: 10 },
          concurrency: 4,
          schedule: [
            { at: 10_000, concurrency: 2 },
            { at: 15_000, concurrency: 4 },
          ],
        },
      });
    const calm = (await run(undefined)).series;
    const storm = (await run({ attempts: 3, backoff: 0 })).series;
    // Without retries the backlog drains within seconds of the capacity coming back.
    assert.ok(calm.success.slice(22).every((n) => n > 200));
    // With them, offered load quadruples, the queue fills with work nobody waits for, and nothing succeeds.
    assert.ok(sum(storm.offered.slice(12)) / 18 > 1000);
    assert.equal(sum(storm.success.slice(12)), 0);
    assert.ok(sum(storm.late) > 5000);
  });

  it('waits out its backoff between retries, with jitter, and the retry-after hint when told to', async () => {
    const gaps = async (retry: Record<string, unknown>): Promise<number[]> => {
      const seen: number[] = [];
      // Sheds every first attempt at once with a retry-after hint of 700 ms; notes how long each retry took.
      const hint = () => ({
        name: 'hint',
        gaugeNames: [],
        offer(r: SimRequest, gate: PolicyGate) {
          if (r.attempt === 0) return gate.reject(r, 'shed', 700);
          seen.push(r.arrivedAt - r.firstArrivedAt);
          gate.admit(r);
        },
        settle() {},
        gauges: () => [],
      });
      await simulate(
        {
          duration: 20_000,
          workload: { type: 'constant', rate: 10, retry: { attempts: 1, ...retry } },
          downstream: { service: 10 },
          policy: { type: 'hint' },
        },
        { policies: { hint } },
      );
      return seen;
    };
    const fixed = await gaps({ backoff: { initial: 500, jitter: 'none' } });
    assert.ok(fixed.length > 150 && fixed.every((g) => Math.abs(g - 500) < 1e-9));
    const hinted = await gaps({ backoff: { initial: 500, jitter: 'none' }, retryAfter: true });
    assert.ok(hinted.every((g) => Math.abs(g - 700) < 1e-9));
    const jittered = await gaps({ backoff: { initial: 500 } });
    assert.ok(jittered.every((g) => g >= 0 && g <= 500));
    within(jittered.reduce((a, b) => a + b, 0) / jittered.length, 250, 40);
    const equal = await gaps({ backoff: { initial: 500, jitter: 'equal' } });
    assert.ok(equal.every((g) => g >= 250 && g <= 500));
  });

  it('gives up after its patience (a timeout) and may retry that too', async () => {
    const result = await simulate({
      duration: 10_000,
      workload: {
        type: 'constant',
        rate: 10,
        timeout: 50,
        retry: { attempts: 2, backoff: 0, on: ['timeout'] },
      },
      downstream: { service: 100 },
    });
    const s = result.summary;
    assert.equal(s.success, 0);
    assert.ok(s.timeouts > 0);
    assert.equal(s.clients.attemptsPerRequest, 3);
    assert.equal(s.clients.succeeded, 0);
    // The downstream finishes the abandoned work anyway: every attempt's work is late.
    within(s.late, s.admitted, 3);
  });
});

describe('workload: trace replay', () => {
  it('replays records in time order with their attributes and outcomes', async () => {
    const text = [
      'time,duration,priority,outcome,extra',
      '1000,5,critical,200,x',
      '1500,7,sheddable,503,y',
      '1200,3,2,error,z',
    ].join('\n');
    const result = await simulate({
      duration: 5000,
      workload: { type: 'trace', text, format: 'csv' },
      downstream: { service: 100 },
      record: true,
    });
    const recs = result.records!;
    // Rebased to the first record (1000 -> 0), sorted by time.
    assert.deepEqual(
      recs.map((r) => [r.arrivedAt, r.priority, r.answer, r.latency]),
      [
        [0, 'critical', 'success', 5],
        [200, 2, 'error', 3],
        [500, 'sheddable', 'overload', 7],
      ],
    );
  });

  it('loops a trace and scales its time', async () => {
    const result = await simulate({
      duration: 10_000,
      workload: { type: 'trace', records: [{ at: 0 }, { at: 1000 }], speed: 2, loop: true },
      downstream: { service: 1 },
      record: true,
    });
    // Span 2000 ms (last + mean gap), halved: arrivals at 0, 500, 1000, 1500, ...
    assert.deepEqual(
      result.records!.slice(0, 5).map((r) => r.arrivedAt),
      [0, 500, 1000, 1500, 2000],
    );
    assert.equal(result.summary.offered, 21);
  });

  it('parses JSON lines, ISO dates and HTTP statuses, skipping blanks and comments', () => {
    const records = parseTrace(
      [
        '# recorded 2024-05-01',
        '{"timestamp":"2024-05-01T00:00:01.000Z","outcome":429,"key":"acme","weight":2}',
        '',
        '{"timestamp":"2024-05-01T00:00:00.250Z","duration":12}',
      ].join('\n'),
      'jsonl',
    );
    assert.deepEqual(records, [
      { at: 0, duration: 12 },
      { at: 750, outcome: 'overload', key: 'acme', weight: 2 },
    ]);
  });

  it('names the line and field of a bad value', () => {
    const cases: [string, 'csv' | 'jsonl', string][] = [
      ['at,duration\n0,1\n5,-3', 'csv', 'trace:3 duration'],
      ['0,1\nlater,2', 'csv', 'trace:2 at'],
      ['{"at":0}\n{"at":1,"outcome":"maybe"}', 'jsonl', 'trace:2 outcome'],
      ['{"at":0}\nnot json', 'jsonl', 'trace:2'],
      ['{"duration":3}', 'jsonl', 'trace:1 at'],
      ['0,1,"critical', 'csv', 'trace:1'],
    ];
    for (const [text, format, option] of cases) {
      assert.throws(
        () => parseTrace(text, format),
        (e: unknown) => isConfigError(e) && e.option === option,
        `${text} -> ${option}`,
      );
    }
  });
});

describe('workload: validation', () => {
  it('names the path of a bad workload option', async () => {
    const down = { service: 1 };
    await rejectsOption(
      () => simulate({ duration: 1, workload: { type: 'poisson', rate: -1 }, downstream: down }),
      'workload.rate',
    );
    await rejectsOption(
      () =>
        simulate({
          duration: 1,
          workload: [{ type: 'poisson', rate: 1 }, { type: 'bursty' } as never],
          downstream: down,
        }),
      'workload[1].type',
    );
    await rejectsOption(
      () =>
        simulate({ duration: 1, workload: { type: 'poisson', rate: 1, rat: 2 } as never, downstream: down }),
      'workload.rat',
    );
    await rejectsOption(
      () =>
        simulate({
          duration: 1,
          workload: { type: 'poisson', rate: 1, retry: { backoff: { jitter: 'some' } } } as never,
          downstream: down,
        }),
      'workload.retry.backoff.jitter',
    );
    await rejectsOption(
      () =>
        simulate({ duration: 1, workload: { type: 'poisson', rate: 1, weight: { 0: 1 } }, downstream: down }),
      'workload.weight.0',
    );
    await rejectsOption(
      () =>
        simulate({
          duration: 1,
          workload: { type: 'trace', records: [{ at: 0 }, { at: 'x' }] } as never,
          downstream: down,
        }),
      'workload.records:2 at',
    );
  });
});
