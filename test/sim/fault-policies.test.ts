import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FaultSpec } from '../../src/sim/downstream.ts';
import { type PolicySpec, type Scenario, simulate } from '../../src/sim/run.ts';
import type { RetrySpec } from '../../src/sim/workload.ts';
import { rejectsOption } from './helpers.ts';

/** One client request at 1000 ms to a 20 ms service, through `policy`, the downstream failing as `faults` say. */
function single(policy: PolicySpec | PolicySpec[], faults: FaultSpec[], retry?: RetrySpec): Scenario {
  return {
    duration: 3000,
    workload: { type: 'constant', rate: 1, end: 1500, ...(retry === undefined ? {} : { retry }) },
    downstream: { service: 20, faults },
    policy,
    record: true,
  };
}

/** The downstream fails every request after 10 ms, answering `as`, from `at` for `duration` ms. */
const down = (as: 'overload' | 'error' = 'overload', at = 0, duration = 10_000): FaultSpec[] => [
  { type: 'outage', at, duration, latency: 10, as },
];

describe('retry policy (simulated)', () => {
  it('sends each retry as a new attempt after its backoff and ends the client request once', async () => {
    const { records, summary } = await simulate(
      single({ type: 'retry', attempts: 3, backoff: 50, budget: false }, down()),
    );
    assert.deepEqual(
      records!.map((r) => [r.attempt, r.arrivedAt, r.endedAt, r.answer]),
      [
        [0, 1000, 1010, 'overload'],
        [1, 1060, 1070, 'overload'],
        [2, 1120, 1130, 'overload'],
      ],
    );
    assert.equal(summary.offered, 3);
    assert.equal(summary.retries, 2);
    assert.deepEqual(
      [summary.clients.requests, summary.clients.failed, summary.clients.attemptsPerRequest],
      [1, 1, 3],
    );
  });

  it("measures the client's latency from its first attempt to the retry that succeeded", async () => {
    const { summary } = await simulate(
      single({ type: 'retry', backoff: 50, budget: false }, down('overload', 0, 1030)),
    );
    assert.equal(summary.clients.succeeded, 1);
    // Failed at 1010, retried at 1060, served in 20 ms.
    assert.equal(summary.clients.latency.max, 80);
  });

  it('retries neither a 500 nor a refusal by an open breaker, as in production', async () => {
    const errors = await simulate(single({ type: 'retry', budget: false }, down('error')));
    assert.equal(errors.summary.offered, 1);
    const open = await simulate(
      single(
        [
          { type: 'retry', budget: false },
          { type: 'breaker', consecutiveFailures: 1 },
        ],
        down('overload', 0, 1030),
      ),
    );
    // The first attempt fails and opens the breaker, which refuses the retry: the call ends there.
    assert.deepEqual(
      open.records!.map((r) => [r.attempt, r.answer, r.reason]),
      [
        [0, 'overload', null],
        [1, 'shed', 'circuit-open'],
      ],
    );
  });

  it('makes no retry that its budget does not allow', async () => {
    const { summary } = await simulate(
      single({ type: 'retry', budget: { ratio: 0, minPerSecond: 0 } }, down()),
    );
    assert.equal(summary.retries, 0);
    assert.equal(summary.clients.failed, 1);
  });

  it("runs inside each call of a naive client's own retries", async () => {
    const { summary } = await simulate(
      single({ type: 'retry', attempts: 2, backoff: 0, budget: false }, down(), { attempts: 1, backoff: 0 }),
    );
    // Two calls (the client retries once), each of two attempts.
    assert.equal(summary.offered, 4);
    assert.equal(summary.clients.attemptsPerRequest, 4);
  });

  it('names the path of a bad option', async () => {
    const run = (policy: PolicySpec) => simulate(single(policy, []));
    await rejectsOption(() => run({ type: 'retry', attempt: 3 }), 'policy.attempt');
    await rejectsOption(() => run({ type: 'retry', attempts: 0 }), 'policy.attempts');
    await rejectsOption(
      () => run({ type: 'retry', backoff: { type: 'exponential', base: -1 } }),
      'policy.backoff.base',
    );
    await rejectsOption(() => run({ type: 'retry', backoff: { type: 'linear' } }), 'policy.backoff.type');
    await rejectsOption(() => run({ type: 'retry', budget: { ratio: -1 } }), 'policy.budget.ratio');
    await rejectsOption(() => run({ type: 'retry', budget: { raito: 1 } }), 'policy.budget.raito');
  });
});

describe('breaker policy (simulated)', () => {
  it('opens on failures, refuses calls while open, and closes once a probe succeeds', async () => {
    const { records } = await simulate({
      duration: 5000,
      workload: { type: 'constant', rate: 100 },
      downstream: { service: 5, faults: down('overload', 0, 1000) },
      policy: { type: 'breaker', consecutiveFailures: 5, openDuration: 500, openBackoff: 1 },
      record: true,
    });
    const failed = records!.filter((r) => r.answer === 'overload');
    const refused = records!.filter((r) => r.reason === 'circuit-open');
    // Five failures open it at 60 ms for 500 ms; the probe at 560 fails and re-opens it until 1070, after
    // the outage: that probe succeeds and closes it.
    assert.deepEqual(
      failed.map((r) => r.arrivedAt),
      [10, 20, 30, 40, 50, 560],
    );
    assert.equal(refused.length, 100);
    assert.ok(refused.every((r) => r.arrivedAt >= 60 && r.arrivedAt < 1070));
    assert.ok(records!.filter((r) => r.arrivedAt >= 1070).every((r) => r.answer === 'success'));
  });

  it('names the path of a bad option', async () => {
    const run = (policy: PolicySpec) => simulate(single(policy, []));
    await rejectsOption(() => run({ type: 'breaker', openDurations: 1 }), 'policy.openDurations');
    await rejectsOption(() => run({ type: 'breaker', openDuration: 0 }), 'policy.openDuration');
    await rejectsOption(() => run({ type: 'breaker', halfOpen: { probes: 0 } }), 'policy.halfOpen.probes');
  });
});
