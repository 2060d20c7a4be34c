// docs/guides/simulator.md, runnable: sh scripts/use-node.sh node examples/guides/simulator.ts

import {
  builtinScenario,
  comparePolicies,
  renderTable,
  type Scenario,
  simulate,
} from '../../src/sim/index.ts';

// --- Your own scenario: plain data, as a YAML file would hold it. Times are ms of simulated time.
const mine: Scenario = {
  name: 'checkout at 1.2x',
  seed: 7,
  duration: 30_000,
  warmup: 5_000, // left out of the summary
  workload: { type: 'poisson', rate: 900, timeout: 1_000 }, // clients give up after a second
  downstream: {
    service: { type: 'lognormal', median: 20, p99: 120 }, // about 740 requests per second at 20 slots
    concurrency: 20,
    schedule: [{ at: 15_000, concurrency: 10 }], // half the capacity from 15 s
  },
  policy: { type: 'limiter' }, // the real createLimiter(), on virtual time
  slo: { latency: 250 },
};
const { summary } = await simulate(mine);
console.log(
  `${mine.name}: goodput ${summary.goodput.toFixed(0)}/s, within the SLO ${summary.goodputWithinSlo.toFixed(0)}/s,`,
  `p99 ${summary.latency.p99?.toFixed(0)} ms, shed ${JSON.stringify(summary.shedByReason)}`,
);

// --- Several policies on the same seeded workload, side by side (what `--compare` prints).
const runs = await comparePolicies(mine, [
  { name: 'none', policy: { type: 'none' } },
  { name: 'static', policy: { type: 'static', limit: 20 } },
  { name: 'adaptive', policy: { type: 'limiter' } },
  {
    name: 'vegas',
    policy: {
      type: 'limiter',
      limit: { algorithm: 'windowed', limit: { algorithm: 'vegas' }, percentile: 0.5 },
    },
  },
]);
console.log(renderTable({ title: mine.name ?? 'scenario', scenario: mine, runs }, { sparklines: false }));

// --- A built-in scenario, shortened: the guard's policies in guard() order against a failing service.
const entry = builtinScenario('outage-retries');
if (entry !== undefined) {
  for (const policy of entry.compare.filter((p) => ['retry-no-budget', 'guard'].includes(p.name))) {
    const r = await simulate({ ...entry.scenario, policy: policy.policy });
    console.log(
      `outage-retries, ${policy.name}: ${r.summary.clients.attemptsPerRequest?.toFixed(2)} attempts per request,`,
      `goodput ${r.summary.goodput.toFixed(0)}/s`,
    );
  }
}
