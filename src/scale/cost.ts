import { ConfigError } from '../core/errors.ts';
import { fraction, nonNegative, positive } from '../core/validate.ts';
import { money } from './format.ts';

/** A spend cap on the fleet, with an optional cheaper share that may be taken back (spot, preemptible). */
export interface CostOptions {
  /** Price of one on-demand replica per hour, in any currency (> 0). */
  readonly pricePerReplicaHour: number;
  /** Most the fleet may cost per hour, in the same currency. Must afford the autoscaler's `min`. */
  readonly maxSpendPerHour: number;
  /**
   * Run `share` of the replicas (rounded down, so rounding never adds reclaimable capacity) on a cheaper,
   * preemptible tier at `pricePerReplicaHour` (>= 0). The rest run on demand.
   */
  readonly preemptible?: {
    /** Fraction of replicas on the preemptible tier, in [0, 1]. */
    readonly share: number;
    readonly pricePerReplicaHour: number;
  };
}

/** How a replica count splits between the tiers, and what it costs. */
export interface CostSplit {
  readonly replicas: number;
  readonly onDemand: number;
  readonly preemptible: number;
  readonly spendPerHour: number;
  readonly maxSpendPerHour: number;
  /** Most replicas the cap affords (may be `Infinity` when the preemptible tier is free and takes all). */
  readonly affordable: number;
}

/** A validated cost budget: the largest affordable fleet and the split of any count. */
export interface CostPlan {
  readonly affordable: number;
  split(replicas: number): CostSplit;
}

/** Fraction slack so that e.g. `10 * 0.7` (7.000000000000001) rounds to 7 replicas. */
const EPSILON = 1e-9;

/**
 * Validates `options` (naming options under `prefix`, e.g. `"cost"`) and returns the plan. The spend of a
 * fleet never falls when a replica is added (each adds one tier's price, both >= 0), so the affordable
 * count is the largest `n` with `spend(n) <= maxSpendPerHour`, found from the blended price and corrected
 * by a few steps for the rounding of the split.
 */
export function costPlan(options: CostOptions, prefix = 'cost'): CostPlan {
  if (typeof options !== 'object' || options === null) throw new ConfigError(prefix, options, 'an object');
  const price = positive(`${prefix}.pricePerReplicaHour`, options.pricePerReplicaHour);
  const cap = nonNegative(`${prefix}.maxSpendPerHour`, options.maxSpendPerHour);
  let share = 0;
  let cheap = price;
  if (options.preemptible !== undefined) {
    const p = options.preemptible;
    if (typeof p !== 'object' || p === null) throw new ConfigError(`${prefix}.preemptible`, p, 'an object');
    share = fraction(`${prefix}.preemptible.share`, p.share);
    cheap = nonNegative(`${prefix}.preemptible.pricePerReplicaHour`, p.pricePerReplicaHour);
    if (!Number.isFinite(cheap)) {
      throw new ConfigError(`${prefix}.preemptible.pricePerReplicaHour`, cheap, 'a finite number >= 0');
    }
  }

  const preemptibleOf = (n: number): number => Math.floor(n * share + EPSILON);
  const spend = (n: number): number => {
    const pre = preemptibleOf(n);
    return (n - pre) * price + pre * cheap;
  };
  // Float slack on the cap, so that a cap of exactly n * price affords n.
  const fits = (n: number): boolean => spend(n) <= cap * (1 + EPSILON) + EPSILON;

  let affordable: number;
  const blended = share * cheap + (1 - share) * price;
  if (cap === Infinity || blended === 0) {
    affordable = Infinity;
  } else {
    affordable = Math.max(0, Math.floor(cap / blended));
    while (affordable > 0 && !fits(affordable)) affordable--;
    while (fits(affordable + 1)) affordable++;
  }

  return {
    affordable,
    split(replicas: number): CostSplit {
      const preemptible = preemptibleOf(replicas);
      return {
        replicas,
        onDemand: replicas - preemptible,
        preemptible,
        spendPerHour: spend(replicas),
        maxSpendPerHour: cap,
        affordable,
      };
    },
  };
}

/** `6 on-demand + 2 preemptible = 8.00/h of 10.00/h`. */
export function describeSplit(split: CostSplit): string {
  const tiers =
    split.preemptible > 0
      ? `${split.onDemand} on-demand + ${split.preemptible} preemptible`
      : `${split.onDemand} on-demand`;
  return `${tiers} = ${money(split.spendPerHour)}/h of ${money(split.maxSpendPerHour)}/h`;
}
