import type { Scenario } from '../run.ts';
import type { ScalingBenchmark } from '../scaling-report.ts';
import { capacityDrop } from './capacity-drop.ts';
import type { ComparePolicy } from './compare.ts';
import { diurnal } from './diurnal.ts';
import { downstreamOutage } from './downstream-outage.ts';
import { flashCrowd } from './flash-crowd.ts';
import { outageRetries } from './outage-retries.ts';
import { retryStorm } from './retry-storm.ts';
import { autoscalers, replicasFor, scalingCompare } from './scaling.ts';
import { scalingBursty } from './scaling-bursty.ts';
import { scalingDiurnal } from './scaling-diurnal.ts';
import { scalingFlashCrowd, spikeAt, spikeRate } from './scaling-flash-crowd.ts';
import { steadyOverload } from './steady-overload.ts';

/**
 * The built-in scenarios: the situations adaptive backpressure and scaling exist for, each a plain `Scenario`
 * and the policies worth comparing on it. `sluice simulate --list` lists them and `sluice simulate
 * <name> --compare` runs one. Each runs in well under a second of real time per policy; the scaling ones,
 * which simulate 25 to 30 minutes with replicas coming and going, in about a second.
 */
export interface CatalogueEntry {
  /** Short name, as given on the command line (`flash-crowd`). */
  readonly name: string;
  /** One line for listings. */
  readonly title: string;
  /** What happens, and what to look for in the results. */
  readonly description: string;
  readonly scenario: Scenario;
  /** Policies `--compare` runs on it: at least unprotected, a static limit and sluice's adaptive limiter. */
  readonly compare: readonly ComparePolicy[];
}

const none: ComparePolicy = { name: 'none', policy: { type: 'none' } };
const adaptive: ComparePolicy = { name: 'adaptive', policy: { type: 'limiter' } };
/** A static limit with no queue; sized to the healthy service unless a scenario says otherwise. */
const fixed = (limit: number): ComparePolicy => ({ name: 'static', policy: { type: 'static', limit } });

export const catalogue: readonly CatalogueEntry[] = [
  {
    name: 'steady-overload',
    title: 'Steady overload at 1.5x capacity',
    description:
      'Offered load is 1.5 times what the service can serve, for the whole run, and clients give up after ' +
      '1 s. Unprotected, the queue inside the service grows until every answer comes after its client has ' +
      'left: goodput collapses although the service is busy all the time. A limit keeps the queue short and ' +
      'serves at capacity; with priorities, the sheddable requests go first.',
    scenario: steadyOverload,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'capacity-drop',
    title: 'Capacity drop and recovery',
    description:
      'Four replicas run at 75% of their capacity. At 20 s two of them fail: the load is now 1.5 times the ' +
      'capacity. Replacements are asked for at 50 s and serve from 55 s. The static limit is tuned for four ' +
      'replicas and stays there; the adaptive limit must find the new capacity, and find its way back.',
    scenario: capacityDrop,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'flash-crowd',
    title: 'Flash crowd at 2.5x capacity',
    description:
      'Traffic at half the capacity, then a flash crowd ramps to 2.5 times it in 3 s, holds for 15 s and ' +
      'ebbs. Clients give up after 2 s and retry twice with backoff, so failures add load.',
    scenario: flashCrowd,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'downstream-outage',
    title: 'Downstream outage and slow recovery',
    description:
      'The service hangs for 10 s (every request that starts then completes only when it ends), then runs ' +
      'three times slower, recovering over 10 s. Calls time out after 1 s. Unprotected, every arrival ' +
      'during the outage is stuck in the service; a limit holds what is stuck to a few requests.',
    scenario: downstreamOutage,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'retry-storm',
    title: 'Retry storm after a latency spike',
    description:
      'A healthy service at 70% load; its clients give up after 500 ms and retry at once, three times. A ' +
      '5 s latency spike makes requests time out, every timeout comes back as a retry, and the load ' +
      'multiplies. Unprotected, the retries keep the service overloaded after the spike (a metastable ' +
      'failure); shedding at once costs the service nothing and lets it recover.',
    scenario: retryStorm,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'outage-retries',
    title: 'Fail-fast outage: retries within a budget',
    description:
      'At half load, the service answers every request 503 within 5 ms for 10 s, then recovers. Retrying ' +
      'inside each call without a budget (3 attempts) triples the attempts on the failing service; ' +
      "sluice's retry budget holds them to about 1.1 times the first attempts; the guard's breaker keeps " +
      'almost all of them off the service and lets the load back once its probes succeed.',
    scenario: outageRetries,
    compare: [
      none,
      fixed(20),
      adaptive,
      { name: 'retry-no-budget', policy: { type: 'retry', attempts: 3, budget: false } },
      { name: 'retry', policy: { type: 'retry' } },
      {
        name: 'guard',
        policy: [{ type: 'retry' }, { type: 'breaker' }, { type: 'limiter' }],
      },
    ],
  },
  {
    name: 'diurnal',
    title: 'A diurnal day in two minutes',
    description:
      'The rate follows a daily cycle compressed into two minutes, from a fifth of the capacity at night to ' +
      '1.3 times it at the midday peak. Protection should cost nothing at night and shed only at the peak.',
    scenario: diurnal,
    compare: [none, fixed(20), adaptive],
  },
  {
    name: 'scaling-bursty',
    title: 'Autoscaling: random bursts at 3.5x',
    description:
      'Five replicas carry the base load at 60% utilisation; bursts at 3.5 times it come at random, 2.5 ' +
      'minutes long and 5 minutes apart on average, for 30 minutes. New replicas take 30 to 60 s to serve. ' +
      'Compare the fixed fleet (unprotected, or with a limit) with the Kubernetes HPA baseline and ' +
      "sluice's autoscaler: look at the SLO seconds lost at each burst and at the replicas kept between them.",
    scenario: scalingBursty,
    compare: scalingCompare,
  },
  {
    name: 'scaling-flash-crowd',
    title: 'Autoscaling: a 5x flash crowd',
    description:
      'Five replicas carry the base load at 60% utilisation; at 5 min a flash crowd brings five times it ' +
      'for 8 minutes. New replicas take 30 to 60 s to serve. The HPA on CPU sees at most 100% and grows the ' +
      'fleet by 1/0.6 per step, each step waiting for its replicas; sluice reads the demand and asks for ' +
      "the whole spike at once, then gives it back sooner than the HPA's 5-minute window.",
    scenario: scalingFlashCrowd,
    compare: scalingCompare,
  },
  {
    name: 'scaling-diurnal',
    title: 'Autoscaling: a day in 30 minutes',
    description:
      'A working day compressed into 30 minutes: a quiet night at a tenth of the midday peak (20 replicas’ ' +
      'worth), a steep morning ramp, a dip after lunch, a second peak and a long evening decline. New ' +
      'replicas take 30 to 60 s to serve: a reactive autoscaler lags the morning, and a 5-minute ' +
      'scale-down window keeps the evening’s replicas.',
    scenario: scalingDiurnal,
    compare: scalingCompare,
  },
];

/**
 * The scaling benchmarks: the scaling scenarios, each run with the starting fleet left alone, the HPA
 * baseline and sluice's autoscaler (see `compareScaling`). The flash crowd counts the decision cycles to
 * ask for the replicas its spike needs.
 */
export const scalingBenchmarks: readonly ScalingBenchmark[] = [
  { name: 'scaling-bursty', scenario: scalingBursty, policies: autoscalers },
  {
    name: 'scaling-flash-crowd',
    scenario: scalingFlashCrowd,
    policies: autoscalers,
    spike: { at: spikeAt, replicas: replicasFor(spikeRate) },
  },
  { name: 'scaling-diurnal', scenario: scalingDiurnal, policies: autoscalers },
];

/** The built-in scenario called `name`, or `undefined`. */
export function builtinScenario(name: string): CatalogueEntry | undefined {
  return catalogue.find((entry) => entry.name === name);
}

export {
  type CompareOptions,
  type ComparePolicy,
  type CompareProgress,
  comparePolicies,
  defaultComparison,
  type PolicyRun,
  policyLabel,
  policyPresets,
  presetPolicy,
  resolvePolicies,
  uniqueNames,
} from './compare.ts';
export { autoscalers } from './scaling.ts';
export {
  capacityDrop,
  diurnal,
  downstreamOutage,
  flashCrowd,
  outageRetries,
  retryStorm,
  scalingBursty,
  scalingDiurnal,
  scalingFlashCrowd,
  steadyOverload,
};
