import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicySpec, Scenario, SimResult } from '../../src/sim/run.ts';
import { simulate } from '../../src/sim/run.ts';
import type { RetrySpec } from '../../src/sim/workload.ts';
import { sum } from './helpers.ts';

/**
 * The proof for retries and recovery, on the simulator (real components, virtual time): 400
 * requests per second to a service that can serve about 740, healthy for 10 s, then down for 10 s
 * (every request fails fast with a 503), then healthy again for 10 s. Buckets of 500 ms.
 */
const OUTAGE_START = 10_000;
const OUTAGE_END = 20_000;
const BUCKET = 500;

function outage(policy: PolicySpec | PolicySpec[] | undefined, retry?: RetrySpec): Scenario {
  return {
    seed: 1,
    duration: 30_000,
    bucket: BUCKET,
    workload: { type: 'poisson', rate: 400, ...(retry === undefined ? {} : { retry }) },
    downstream: {
      service: { type: 'lognormal', median: 20, p99: 120 },
      concurrency: 20,
      faults: [{ type: 'outage', at: OUTAGE_START, duration: OUTAGE_END - OUTAGE_START, latency: 5 }],
    },
    ...(policy === undefined ? {} : { policy }),
  };
}

/** Attempts (first and retries) and first attempts sent during the outage. */
function outageAttempts(result: SimResult): { attempts: number; firsts: number; ratio: number } {
  const from = OUTAGE_START / BUCKET;
  const to = OUTAGE_END / BUCKET;
  const attempts = sum(result.series.offered.slice(from, to));
  const firsts = attempts - sum(result.series.retries.slice(from, to));
  return { attempts, firsts, ratio: attempts / firsts };
}

/**
 * Time from the end of the outage to the start of the first bucket from which every bucket serves at
 * least 95% of that bucket's first attempts (Infinity if none does). Healthy buckets serve 97-103%.
 */
function recovery(result: SimResult): number {
  const { success, offered, retries } = result.series;
  const served = success.map((s, i) => s / (offered[i]! - retries[i]!));
  for (let i = OUTAGE_END / BUCKET; i < served.length; i++) {
    if (served.slice(i).every((x) => x >= 0.95)) return i * BUCKET - OUTAGE_END;
  }
  return Number.POSITIVE_INFINITY;
}

const fixed = (n: number): string => n.toFixed(3);

describe('retries during a downstream outage (simulated)', () => {
  it('naive client retries (3 attempts, no budget) triple the attempts', async (t) => {
    const r = outageAttempts(await simulate(outage(undefined, { attempts: 2 })));
    t.diagnostic(`naive clients: ${r.attempts} attempts / ${r.firsts} first = ${fixed(r.ratio)}x`);
    assert.ok(r.ratio > 2.9, `ratio ${r.ratio}`);
  });

  it("sluice's retry without a budget triples them too", async (t) => {
    const r = outageAttempts(await simulate(outage({ type: 'retry', attempts: 3, budget: false })));
    t.diagnostic(`retry, budget: false: ${r.attempts} / ${r.firsts} = ${fixed(r.ratio)}x`);
    assert.ok(r.ratio > 2.9, `ratio ${r.ratio}`);
  });

  it("sluice's retry with its default budget adds 10% of first attempts, plus the budget's floor", async (t) => {
    const result = await simulate(outage({ type: 'retry', attempts: 3 }));
    const r = outageAttempts(result);
    t.diagnostic(`retry, default budget: ${r.attempts} / ${r.firsts} = ${fixed(r.ratio)}x`);
    // The budget allows 10% of the first attempts of its 10 s window plus 1 retry a second (10 per
    // window, 0.25% of 4,000): 1.1025x. The window's count of first attempts (it reaches back before the
    // outage) differs from the outage's by a few tens: 1.102-1.107x over five seeds.
    assert.ok(r.ratio <= 1.11, `ratio ${r.ratio}`);
    assert.ok(r.ratio >= 1.05, `the budget was not used: ${r.ratio}`);
    // Each client request is counted once, with its retries.
    assert.equal(result.summary.retries, result.summary.offered - result.summary.clients.requests);
  });
});

describe('recovery after the outage (simulated)', () => {
  it('breaker (open at most 2 s) + AIMD limiter + retry serve the full load again within 3 s', async (t) => {
    const result = await simulate(
      outage([
        { type: 'retry' },
        { type: 'breaker', openDuration: 1000, maxOpenDuration: 2000 },
        { type: 'limiter', limit: { algorithm: 'aimd' } },
      ]),
    );
    const r = outageAttempts(result);
    const admitted = sum(result.series.admitted.slice(OUTAGE_START / BUCKET, OUTAGE_END / BUCKET));
    const back = recovery(result);
    t.diagnostic(`outage: ${r.attempts} attempts, ${r.firsts} first, ${admitted} reached the downstream`);
    t.diagnostic(`full throughput ${back} ms after the downstream recovered`);
    // The open breaker keeps nearly everything off the failing downstream (its probes get through).
    assert.ok(admitted < 0.02 * r.firsts, `admitted ${admitted}`);
    assert.ok(back <= 3000, `recovered after ${back} ms`);
  });

  it("the guard's defaults (retry, breaker, adaptive limiter) serve the full load again within 3 s", async (t) => {
    const result = await simulate(outage([{ type: 'retry' }, { type: 'breaker' }, { type: 'limiter' }]));
    const back = recovery(result);
    t.diagnostic(`full throughput ${back} ms after the downstream recovered`);
    // The default breaker opens for 1 s, 2 s, then 4 s at a time: it half-opens at 21 s, a second after the
    // downstream recovered (it used to stay open 5 s, then 10 s: until 25 s). The default limit then climbs
    // back from where the breaker's failed probes left it (it used to hold at 9 where about 11 is needed,
    // serving 80-90%).
    assert.ok(back <= 3000, `recovered after ${back} ms`);
  });

  it("the guard's defaults serve at least 95% of the load from 3 s after the recovery, whatever the seed", async (t) => {
    // The per-bucket criterion above is sensitive to how successes fall into 500 ms buckets (a healthy bucket
    // serves 94-106% on some seeds, under a tuned AIMD too): over several seeds, count the whole tail.
    const from = (OUTAGE_END + 3000) / BUCKET;
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await simulate({
        ...outage([{ type: 'retry' }, { type: 'breaker' }, { type: 'limiter' }]),
        seed,
      });
      const { success, offered, retries } = result.series;
      const firsts = sum(offered.slice(from)) - sum(retries.slice(from));
      const served = sum(success.slice(from)) / firsts;
      t.diagnostic(`seed ${seed}: ${fixed(served)} of first attempts served from 3 s after the recovery`);
      assert.ok(served >= 0.95, `seed ${seed}: served ${served}`);
    }
  });
});
