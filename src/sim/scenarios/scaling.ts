import type { DownstreamSpec } from '../downstream.ts';
import { type DistributionSpec, distribution } from '../random.ts';
import type { ComparePolicy } from './compare.ts';

/**
 * What the scaling scenarios share. One replica serves 4 requests at once, each taking a lognormal 50 ms
 * median and 250 ms p99 (a mean of about 63.5 ms): about 63 requests per second at full load, 38 at the
 * 60% utilisation the autoscalers aim for. A new replica serves 30 to 60 s after it is asked for (uniform:
 * scheduling, image pull, start-up, readiness probe). The fleet starts with 5 replicas, sized for the base
 * load at the target; a shared queue of 400 refuses beyond it; clients give up after 2 s.
 */
export const scalingService: DistributionSpec = { type: 'lognormal', median: 50, p99: 250 };

/** Requests one replica serves at once. */
export const perReplica = 4;

/** Start-up delay of a new replica (ms). */
export const startup: DistributionSpec = { type: 'uniform', min: 30_000, max: 60_000 };

/** The mean start-up delay (ms): what the autoscalers are told new capacity takes (`readiness`). */
export const readiness = 45_000;

/** Replicas at the start. */
export const fleet = 5;

/** Utilisation both autoscalers aim for (the HPA's CPU target). */
export const target = 0.6;

/** Bounds of both autoscalers. */
export const minReplicas = 2;
export const maxReplicas = 60;

/** Client patience (ms). */
export const patience = 2_000;

/** The SLO of the scaling scenarios: 99% of requests answered successfully within 500 ms. */
export const scalingSlo = { latency: 500, target: 0.99 } as const;

/** The downstream of the scaling scenarios. */
export const scalingDownstream: DownstreamSpec = {
  service: scalingService,
  concurrency: perReplica,
  queue: 400,
  replicas: { count: fleet, startup },
};

/** Mean service time of one request (ms). */
const meanService = distribution(scalingService, 'service').mean;

/** Requests per second at which `replicas` run at the target utilisation. */
export function rateAtTarget(replicas: number): number {
  return (replicas * perReplica * target * 1000) / meanService;
}

/**
 * Replicas that carry `rate` requests per second at the target utilisation, within the 10% tolerance band
 * of the proportional rule: the count at which an HPA on true utilisation would stop scaling up.
 */
export function replicasFor(rate: number): number {
  return Math.ceil((rate * meanService) / 1000 / perReplica / (target * 1.1) - 1e-9);
}

/**
 * The three fleets a scaling benchmark compares: the starting fleet left alone, the Kubernetes HPA
 * baseline, and sluice's autoscaler, with the same bounds and target.
 */
export const autoscalers: readonly ComparePolicy[] = [
  { name: 'static', policy: { type: 'autoscale', preset: 'static' } },
  {
    name: 'hpa',
    policy: { type: 'autoscale', preset: 'hpa', min: minReplicas, max: maxReplicas, target },
  },
  {
    name: 'sluice',
    policy: { type: 'autoscale', preset: 'sluice', min: minReplicas, max: maxReplicas, target, readiness },
  },
];

/**
 * What `--compare` runs on a scaling scenario: the fixed fleet unprotected, with a static limit and with
 * sluice's adaptive limiter (backpressure alone), then the two autoscalers.
 */
export const scalingCompare: readonly ComparePolicy[] = [
  { name: 'none', policy: { type: 'none' } },
  { name: 'static', policy: { type: 'static', limit: fleet * perReplica } },
  { name: 'adaptive', policy: { type: 'limiter' } },
  autoscalers[1]!,
  autoscalers[2]!,
];
