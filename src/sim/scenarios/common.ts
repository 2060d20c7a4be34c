import type { DistributionSpec } from '../random.ts';

/**
 * The service every built-in scenario runs against, unless it says otherwise: a lognormal service time
 * with a 20 ms median and a 120 ms p99 (mean about 27 ms), 20 requests served at once. Its capacity is
 * therefore about 20 / 0.027 s = 740 requests per second; the scenarios state their load against it.
 */
export const service: DistributionSpec = { type: 'lognormal', median: 20, p99: 120 };

/** Requests served at once by the healthy service. */
export const concurrency = 20;

/** Requests per second the healthy service completes when saturated (concurrency / mean service time). */
export const capacity = 740;

/** The latency objective of every built-in scenario: 99% of client requests answered within 250 ms. */
export const slo = { latency: 250, target: 0.99 } as const;
