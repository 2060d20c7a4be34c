import { ConfigError } from '../../core/errors.ts';
import { isPlainObject } from '../../core/spec.ts';
import { type PolicySpec, type Scenario, type SimResult, type SimulateOptions, simulate } from '../run.ts';

/**
 * Comparing policies: the same scenario (same seed, hence the same arrivals and service demands, see
 * `Random`) run once per policy, and the runs reported side by side.
 */

/** A policy under comparison: a label for reports and the scenario `policy` it stands for. */
export interface ComparePolicy {
  /** Label in reports, e.g. `"adaptive"` or `"static"`. */
  readonly name: string;
  /** One policy, or a pipeline of them (see `Scenario.policy`). */
  readonly policy: PolicySpec | readonly PolicySpec[];
}

/** One run of a comparison. */
export interface PolicyRun extends ComparePolicy {
  readonly result: SimResult;
}

/**
 * Policies known by name wherever a comparison takes names (`--policies none,static,adaptive`, a
 * scenario file's `compare:` list):
 *
 * - `none`: unprotected; every request goes to the service.
 * - `static`: a fixed concurrency limit with no queue, sized to the healthy service (its `concurrency`
 *   times its starting replica count; 100 when the scenario does not say). `static:N` sets the limit to N.
 * - `adaptive`: sluice's limiter as it comes (its default limit and queue).
 * - `gradient2`: the limiter with Gradient2 fed every sample (no window).
 * - `vegas`, `aimd`: the limiter with those algorithms.
 */
export const policyPresets = ['none', 'static', 'adaptive', 'gradient2', 'vegas', 'aimd'] as const;

/** The policies `--compare` runs when a scenario names none: unprotected, static and adaptive. */
export const defaultComparison = ['none', 'static', 'adaptive'] as const;

/** The preset called `name` for `scenario`, or `undefined` if there is no such preset. */
export function presetPolicy(name: string, scenario: Scenario): ComparePolicy | undefined {
  const fixed = /^static:(\d+)$/.exec(name);
  if (fixed !== null) {
    const limit = Number(fixed[1]);
    return limit > 0 ? { name, policy: { type: 'static', limit } } : undefined;
  }
  switch (name) {
    case 'none':
      return { name, policy: { type: 'none' } };
    case 'static':
      return { name, policy: { type: 'static', limit: healthyConcurrency(scenario) } };
    case 'adaptive':
      return { name, policy: { type: 'limiter' } };
    case 'gradient2':
      return { name, policy: { type: 'limiter', limit: { algorithm: 'gradient2' } } };
    case 'vegas':
    case 'aimd':
      return { name, policy: { type: 'limiter', limit: { algorithm: name } } };
    default:
      return undefined;
  }
}

/**
 * Resolves policy names: first against `named` (a scenario's own `compare` list), then the presets.
 * Throws a `ConfigError` for `option` naming the unknown name and every known one.
 */
export function resolvePolicies(
  names: readonly string[],
  scenario: Scenario,
  named: readonly ComparePolicy[] = [],
  option = 'policies',
): ComparePolicy[] {
  return names.map((name) => {
    const found = named.find((p) => p.name === name) ?? presetPolicy(name, scenario);
    if (found !== undefined) return found;
    const known = [...new Set([...named.map((p) => p.name), ...policyPresets, 'static:N'])];
    throw new ConfigError(option, name, `a policy name: one of ${known.join(', ')}`);
  });
}

/** The label of a scenario's own policy: its type, or the types of a pipeline joined with `+`. */
export function policyLabel(policy: Scenario['policy']): string {
  if (policy === undefined) return 'none';
  const list = Array.isArray(policy) ? policy : [policy];
  return list.map((p: unknown) => (isPlainObject(p) ? String(p['type']) : '?')).join('+');
}

/** Where a comparison is in its work, for a progress display. */
export interface CompareProgress {
  /** Index of the run under way (0-based). */
  readonly run: number;
  /** Runs in all. */
  readonly runs: number;
  /** Label of the policy under way. */
  readonly name: string;
  /** Simulated time reached in this run, and its end (ms). */
  readonly now: number;
  readonly duration: number;
}

export interface CompareOptions extends Omit<SimulateOptions, 'onProgress'> {
  /** Called as simulated time passes in each run. */
  readonly onProgress?: (progress: CompareProgress) => void;
}

/**
 * Runs `scenario` once per policy (in order, one after the other) and returns the runs in the same order.
 * Every run uses the scenario's seed, so all policies meet the same workload.
 */
export async function comparePolicies(
  scenario: Scenario,
  policies: readonly ComparePolicy[],
  options: CompareOptions = {},
): Promise<PolicyRun[]> {
  const { onProgress, ...simulateOptions } = options;
  const runs: PolicyRun[] = [];
  for (const [run, p] of policies.entries()) {
    const progress =
      onProgress === undefined
        ? undefined
        : (now: number, duration: number) =>
            onProgress({ run, runs: policies.length, name: p.name, now, duration });
    const result = await simulate(
      { ...scenario, policy: p.policy },
      progress === undefined ? simulateOptions : { ...simulateOptions, onProgress: progress },
    );
    runs.push({ name: p.name, policy: p.policy, result });
  }
  return runs;
}

/** Labels made unique by a `#2`, `#3`... suffix on repeats, so that reports can tell the runs apart. */
export function uniqueNames<T extends ComparePolicy>(policies: readonly T[]): T[] {
  const seen = new Map<string, number>();
  return policies.map((p) => {
    const n = (seen.get(p.name) ?? 0) + 1;
    seen.set(p.name, n);
    return n === 1 ? p : { ...p, name: `${p.name}#${n}` };
  });
}

/** Concurrency of the healthy service: per-replica concurrency times the starting replicas (else 100). */
function healthyConcurrency(scenario: Scenario): number {
  const d: unknown = scenario.downstream;
  if (!isPlainObject(d)) return 100;
  const concurrency = d['concurrency'];
  if (typeof concurrency !== 'number' || !Number.isFinite(concurrency) || concurrency <= 0) return 100;
  const replicas = isPlainObject(d['replicas']) ? d['replicas']['count'] : undefined;
  const count = typeof replicas === 'number' && replicas > 0 ? replicas : 1;
  return Math.max(1, Math.round(concurrency * count));
}
