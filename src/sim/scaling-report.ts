import { ConfigError } from '../core/errors.ts';
import {
  type AutoscaleObserver,
  type AutoscaleRecord,
  type AutoscaleStageInfo,
  autoscalePolicyFactory,
} from './autoscale.ts';
import { type Scenario, type SimResult, type SimulateOptions, simulate } from './run.ts';
import type { ComparePolicy } from './scenarios/compare.ts';
import type { SimSeries } from './stats.ts';

/**
 * Comparing autoscalers on a scenario: each policy runs the same workload (same seed), and each run is
 * measured the same way:
 *
 * - **SLO-violation seconds.** The run after its warmup is cut into windows of 10 s (`window`, whole series
 *   buckets). A window violates the SLO when some attempt was answered in it and the share of those answers
 *   that were successes within the SLO latency is below the SLO target: `successWithinSlo / (success +
 *   errors + overload + timeouts + shed) < slo.target`. A request that failed, timed out or was shed counts
 *   against the share as a slow one does. The measure is the total length of the violating windows, in
 *   seconds. Windows of 10 s rather than single seconds: at 100 requests per second one request slower than
 *   the SLO (a tail of the service time that no replica count changes) would fail a whole second at a 99%
 *   target; over 10 s it takes more than ten.
 * - **Replica-seconds.** The integral over the run (after the warmup) of the replicas asked for (serving and
 *   starting: a starting replica is paid for too), from the `desired` gauge (sampled every tenth of a
 *   bucket); a run without it uses the ready `replicas`.
 * - **Direction reversals.** Among the decisions that changed the count, each one whose direction is the
 *   opposite of the previous change's. It is *inside a stabilization window* when it came sooner after
 *   that change than the window of its own direction (a scale-down less than the scale-down window after
 *   a scale-up; a scale-up less than the scale-up window after a scale-down): exactly what stabilization
 *   exists to prevent.
 * - **Cycles to absorb a spike** (given `spike`): decisions from the first one after the spike starts up
 *   to and including the first one that asked for at least `spike.replicas`; `null` if none did.
 */
export interface ScalingBenchmark {
  readonly name: string;
  readonly scenario: Scenario;
  /** The fleets to compare (usually `autoscalers`: static, hpa, sluice). */
  readonly policies: readonly ComparePolicy[];
  /** A spike whose absorption is counted in decision cycles. */
  readonly spike?: ScalingSpike;
}

export interface ScalingSpike {
  /** When the spike starts (ms). */
  readonly at: number;
  /** Replicas that carry it (at the target utilisation, within the tolerance band). */
  readonly replicas: number;
}

export interface ScalingMetricsOptions {
  /** Spike whose absorption is counted in decision cycles. */
  readonly spike?: ScalingSpike | undefined;
  /** Window of the SLO-violation measure (ms), rounded to whole series buckets. Default 10000. */
  readonly window?: number;
}

export interface ScalingMetrics {
  /** Seconds (after the warmup) in buckets that missed the SLO; see `ScalingBenchmark`. */
  readonly sloViolationSeconds: number;
  /** Integral of the replicas asked for (after the warmup). */
  readonly replicaSeconds: number;
  /** Integral of the ready replicas (after the warmup). */
  readonly readyReplicaSeconds: number;
  /** Most replicas asked for at once (bucket means). */
  readonly peakReplicas: number;
  /** Decisions made, and those that changed the count. */
  readonly decisions: number;
  readonly changes: number;
  readonly reversals: number;
  /** Reversals sooner after the previous change than the stabilization window of their direction. */
  readonly reversalsInsideWindow: number;
  /** Shortest time between a change and the reversal that followed it (ms); `null` without reversals. */
  readonly shortestReversalGap: number | null;
  /** Decision cycles until the spike's replicas were asked for; `null` if never (or no spike given). */
  readonly spikeCycles: number | null;
  /** Time from the spike's start to that decision (ms). */
  readonly spikeAskedAfter: number | null;
  /** Share of client requests (after the warmup) that succeeded within the SLO latency. */
  readonly sloAttainment: number | null;
}

export interface ScalingRun extends ComparePolicy {
  readonly result: SimResult;
  /** The autoscale stage's settings; `undefined` for a policy without one. */
  readonly info: AutoscaleStageInfo | undefined;
  /** Every decision of the autoscale stage, in order. */
  readonly decisions: readonly AutoscaleRecord[];
  readonly metrics: ScalingMetrics;
}

export interface ScalingComparison {
  readonly name: string;
  readonly runs: readonly ScalingRun[];
}

/** Runs `scenario` with `policy`, keeping the autoscale stage's decisions, and measures the run. */
export async function runScaling(
  scenario: Scenario,
  policy: ComparePolicy,
  spike?: ScalingSpike,
  options: Omit<SimulateOptions, 'policies'> = {},
): Promise<ScalingRun> {
  const decisions: AutoscaleRecord[] = [];
  let info: AutoscaleStageInfo | undefined;
  const observer: AutoscaleObserver = {
    started: (i) => {
      if (info !== undefined) throw new ConfigError('policy', policy.policy, 'at most one autoscale stage');
      info = i;
    },
    decision: (d) => decisions.push(d),
  };
  const result = await simulate(
    { ...scenario, policy: policy.policy },
    { ...options, policies: { autoscale: autoscalePolicyFactory(observer) } },
  );
  const metrics = scalingMetrics(result, decisions, info, { spike });
  return { name: policy.name, policy: policy.policy, result, info, decisions, metrics };
}

/** Runs every policy of `benchmark` in turn (same seed) and measures each run. */
export async function compareScaling(
  benchmark: ScalingBenchmark,
  options: Omit<SimulateOptions, 'policies'> = {},
): Promise<ScalingComparison> {
  const runs: ScalingRun[] = [];
  for (const p of benchmark.policies)
    runs.push(await runScaling(benchmark.scenario, p, benchmark.spike, options));
  return { name: benchmark.name, runs };
}

/** The measures of one run (see `ScalingBenchmark` for their definitions). */
export function scalingMetrics(
  result: SimResult,
  decisions: readonly AutoscaleRecord[],
  info: AutoscaleStageInfo | undefined,
  options: ScalingMetricsOptions = {},
): ScalingMetrics {
  const spike = options.spike;
  const { series, settings, summary } = result;
  const slo = settings.slo;
  const from = settings.warmup;
  const end = settings.duration;
  const width = (i: number): number => Math.max(0, Math.min(series.bucket, end - series.time[i]!)) / 1000;

  let violation = 0;
  if (slo !== null) {
    const per = Math.max(1, Math.round((options.window ?? 10_000) / series.bucket));
    let within = 0;
    let answered = 0;
    let length = 0;
    let k = 0;
    const close = (): void => {
      if (answered > 0 && within / answered < slo.target) violation += length;
      within = 0;
      answered = 0;
      length = 0;
      k = 0;
    };
    for (let i = 0; i < series.time.length; i++) {
      if (series.time[i]! < from) continue;
      within += series.successWithinSlo[i]!;
      answered +=
        series.success[i]! + series.errors[i]! + series.overload[i]! + series.timeouts[i]! + series.shed[i]!;
      length += width(i);
      if (++k === per) close();
    }
    if (k > 0) close();
  }
  const asked = gauge(series, 'desired') ?? gauge(series, 'replicas');
  const ready = gauge(series, 'replicas');
  const integral = (values: readonly (number | null)[] | undefined): number => {
    if (values === undefined) return 0;
    let sum = 0;
    for (let i = 0; i < values.length; i++) if (series.time[i]! >= from) sum += (values[i] ?? 0) * width(i);
    return sum;
  };
  let peak = 0;
  if (asked !== undefined) {
    for (let i = 0; i < asked.length; i++) if (series.time[i]! >= from) peak = Math.max(peak, asked[i] ?? 0);
  }

  let changes = 0;
  let reversals = 0;
  let inside = 0;
  let shortest: number | null = null;
  let last: AutoscaleRecord | undefined;
  for (const d of decisions) {
    if (d.direction === 'hold') continue;
    changes++;
    if (last !== undefined && last.direction !== d.direction) {
      reversals++;
      const gap = d.at - last.at;
      shortest = shortest === null ? gap : Math.min(shortest, gap);
      const window = d.direction === 'down' ? info?.scaleDownWindow : info?.scaleUpWindow;
      if (window !== undefined && gap < window) inside++;
    }
    last = d;
  }

  let spikeCycles: number | null = null;
  let spikeAskedAfter: number | null = null;
  if (spike !== undefined) {
    let cycles = 0;
    for (const d of decisions) {
      if (d.at <= spike.at) continue;
      cycles++;
      if (d.to >= spike.replicas) {
        spikeCycles = cycles;
        spikeAskedAfter = d.at - spike.at;
        break;
      }
    }
  }

  return {
    sloViolationSeconds: violation,
    replicaSeconds: integral(asked),
    readyReplicaSeconds: integral(ready),
    peakReplicas: peak,
    decisions: decisions.length,
    changes,
    reversals,
    reversalsInsideWindow: inside,
    shortestReversalGap: shortest,
    spikeCycles,
    spikeAskedAfter,
    sloAttainment: summary.slo?.attainment ?? null,
  };
}

function gauge(series: SimSeries, name: string): readonly (number | null)[] | undefined {
  return series.gauges[name];
}

/** The comparison as rows of text for a table: one row per measure, one column per run. */
export function scalingTable(comparison: ScalingComparison): { header: string[]; rows: string[][] } {
  const runs = comparison.runs;
  const cell = (f: (m: ScalingMetrics) => number | null, digits = 0): string[] =>
    runs.map((r) => {
      const v = f(r.metrics);
      return v === null ? '-' : v.toFixed(digits);
    });
  const rows: string[][] = [
    ['SLO-violation seconds', ...cell((m) => m.sloViolationSeconds)],
    ['replica-seconds', ...cell((m) => m.replicaSeconds)],
    ['peak replicas', ...cell((m) => m.peakReplicas, 1)],
    ['changes', ...cell((m) => m.changes)],
    ['reversals', ...cell((m) => m.reversals)],
    ['  inside a window', ...cell((m) => m.reversalsInsideWindow)],
    [
      '  shortest gap s',
      ...cell((m) => (m.shortestReversalGap === null ? null : m.shortestReversalGap / 1000)),
    ],
    ['SLO attained %', ...cell((m) => (m.sloAttainment === null ? null : m.sloAttainment * 100), 2)],
  ];
  if (runs.some((r) => r.metrics.spikeCycles !== null)) {
    rows.push(['cycles to ask for the spike', ...cell((m) => m.spikeCycles)]);
  }
  return { header: [comparison.name, ...runs.map((r) => r.name)], rows };
}
