import type { PolicySpec, SimResult, SimSettings } from '../run.ts';
import type { SimSeries, SimSummary } from '../stats.ts';
import type { SimReport } from './report.ts';

/** The JSON summary of a report: plain data, stable in shape, for scripts and CI checks. */
export interface JsonReport {
  readonly scenario: {
    readonly title: string;
    readonly description: string | null;
    readonly source: string | null;
    readonly name: string | null;
    readonly seed: number | string | null;
    readonly duration: number | null;
    readonly warmup: number | null;
    readonly slo: SimSettings['slo'];
  };
  readonly runs: readonly {
    readonly name: string;
    readonly policy: PolicySpec | readonly PolicySpec[];
    readonly settings: SimSettings;
    readonly summary: SimSummary;
    /** Simulation events run (a measure of the work done; deterministic). */
    readonly events: number;
    /** Per-bucket series, with `series: true`. */
    readonly series?: SimSeries;
  }[];
}

export interface JsonReportOptions {
  /** Include every run's per-bucket series. Default false (summaries only). */
  readonly series?: boolean;
}

/** The report as JSON-able data (`JSON.stringify` it; non-finite numbers are already null). */
export function jsonReport(report: SimReport, options: JsonReportOptions = {}): JsonReport {
  const first: SimResult | undefined = report.runs[0]?.result;
  const data: JsonReport = {
    scenario: {
      title: report.title,
      description: report.description ?? null,
      source: report.source ?? null,
      name: first?.settings.name ?? null,
      seed: first?.settings.seed ?? null,
      duration: first?.settings.duration ?? null,
      warmup: first?.settings.warmup ?? null,
      slo: first?.settings.slo ?? null,
    },
    runs: report.runs.map((r) => ({
      name: r.name,
      policy: r.policy,
      settings: r.result.settings,
      summary: r.result.summary,
      events: r.result.events,
      ...(options.series === true ? { series: r.result.series } : {}),
    })),
  };
  // A round trip turns NaN and Infinity into null and drops undefined: what a reader of the file will see.
  return JSON.parse(JSON.stringify(data)) as JsonReport;
}
