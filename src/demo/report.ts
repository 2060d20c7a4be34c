import { amount, count, ms, percent } from '../sim/report/format.ts';
import { sparkline } from '../sim/report/sparkline.ts';
import type { Outcome } from './load.ts';
import { type DemoPlan, speedText } from './plan.ts';
import type { RunRecord } from './run.ts';

/** One side of the final table: how one run went, over the whole planned run. */
export interface DemoRun {
  readonly name: string;
  readonly sluice: boolean;
  /** Requests sent (the same in both runs). */
  readonly offered: number;
  /** Answers within the SLO per second of the run. */
  readonly goodput: number;
  /** Share of the requests answered within the SLO. */
  readonly goodputShare: number;
  /** Answered 200 (within the SLO or not). */
  readonly success: number;
  /** Latency of the successes (ms); null when there were none. */
  readonly p50: number | null;
  readonly p99: number | null;
  /** Failed otherwise: the downstream's own refusals (its queue full), 5xx, broken connections. */
  readonly errors: number;
  /** Given up by the client, or answered 504 at its deadline. */
  readonly timeouts: number;
  /** Refused at once by the gateway (503 or 429): load shed, with a Retry-After. */
  readonly shed: number;
  /** Workers paid for: their count integrated over the run (worker-seconds). */
  readonly replicaSeconds: number;
  readonly peakReplicas: number;
  /** Scaling steps the autoscaler took. */
  readonly scalings: number;
  /** Per phase of the plan, by send time. */
  readonly phases: readonly { readonly name: string; readonly offered: number; readonly goodput: number }[];
  /** Answers within the SLO per second, by send time. */
  readonly goodputPerSecond: readonly number[];
  /** Workers asked for, sampled once a second. */
  readonly replicasPerSecond: readonly number[];
  /** The gateway's adaptive limit, sampled once a second; null without sluice. */
  readonly limitPerSecond: readonly number[] | null;
}

/** What `--json` prints: the plan's settings and the two runs, without sluice first. */
export interface DemoReport {
  readonly settings: {
    readonly seed: number;
    /** Length of each run (ms). */
    readonly runMs: number;
    readonly sloMs: number;
    readonly timeoutMs: number;
    readonly requests: number;
    readonly rate: number;
    readonly burstRate: number;
    readonly service: { readonly type: 'lognormal'; readonly median: number; readonly p99: number };
    readonly workers: number;
    readonly minWorkers: number;
    readonly maxWorkers: number;
    readonly downstreamQueue: number;
    readonly phases: readonly {
      readonly name: string;
      readonly fromMs: number;
      readonly toMs: number;
      readonly speed: number;
    }[];
    readonly bursts: readonly { readonly fromMs: number; readonly toMs: number }[];
  };
  readonly runs: readonly DemoRun[];
}

function quantile(sorted: readonly number[], q: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.floor(q * (sorted.length - 1))]!;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Sums up one run against its plan. */
export function summarise(plan: DemoPlan, record: RunRecord): DemoRun {
  const seconds = plan.duration / 1000;
  const latencies: number[] = [];
  const counts = { success: 0, shed: 0, timeout: 0, error: 0 };
  const good = (o: Outcome): boolean => o.kind === 'success' && o.latency <= plan.slo;
  const perSecond = new Array<number>(Math.ceil(seconds)).fill(0);
  let within = 0;
  for (const o of record.outcomes) {
    counts[o.kind]++;
    if (o.kind === 'success') latencies.push(o.latency);
    if (good(o)) {
      within++;
      const s = Math.floor(o.at / 1000);
      if (s < perSecond.length) perSecond[s]!++;
    }
  }
  latencies.sort((a, b) => a - b);
  const offered = record.outcomes.length;
  const phases = plan.phases.map((p) => {
    const mine = record.outcomes.filter((o) => o.at >= p.from && o.at < p.to);
    return {
      name: p.name,
      offered: mine.length,
      goodput: round((mine.filter(good).length * 1000) / (p.to - p.from)),
    };
  });
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  return {
    name: record.name,
    sluice: record.sluice,
    offered,
    goodput: round(within / seconds),
    goodputShare: offered === 0 ? 0 : round(within / offered, 4),
    success: counts.success,
    p50: p50 === null ? null : round(p50),
    p99: p99 === null ? null : round(p99),
    errors: counts.error,
    timeouts: counts.timeout,
    shed: counts.shed,
    replicaSeconds: round(record.replicaSeconds),
    peakReplicas: record.peakReplicas,
    scalings: record.scalings,
    phases,
    goodputPerSecond: perSecond,
    replicasPerSecond: record.replicas,
    limitPerSecond: record.sluice ? record.limits.map((l) => round(l)) : null,
  };
}

export function demoReport(plan: DemoPlan, runs: readonly DemoRun[]): DemoReport {
  return {
    settings: {
      seed: plan.seed,
      runMs: plan.duration,
      sloMs: plan.slo,
      timeoutMs: plan.timeout,
      requests: plan.arrivals.length,
      rate: round(plan.rate),
      burstRate: round(plan.burstRate),
      service: plan.serviceSpec,
      workers: plan.workers,
      minWorkers: plan.minWorkers,
      maxWorkers: plan.maxWorkers,
      downstreamQueue: plan.queue,
      phases: plan.phases.map((p) => ({
        name: p.name,
        fromMs: round(p.from),
        toMs: round(p.to),
        speed: round(p.speed, 3),
      })),
      bursts: plan.bursts.map((b) => ({ fromMs: round(b.from), toMs: round(b.to) })),
    },
    runs,
  };
}

function seconds(msValue: number): string {
  return `${amount(msValue / 1000).replace(/\.0$/, '')} s`;
}

/**
 * The final table: one column per run, side by side, then the goodput of each second (by send time) as
 * sparklines on one scale, and the workers and limit of the sluice run over time.
 */
export function renderDemoTable(report: DemoReport, width = 100): string {
  const s = report.settings;
  const runs = report.runs;
  const label = 34;
  const column = Math.max(
    16,
    Math.min(20, Math.floor((Math.max(60, width) - label) / Math.max(1, runs.length))),
  );
  const out: string[] = [];
  const row = (name: string, cells: readonly string[]): void => {
    out.push(name.padEnd(label) + cells.map((c) => c.padStart(column)).join(''));
  };
  out.push(
    'sluice demo: the same run without and with sluice',
    `${seconds(s.runMs)} each · ${count(s.requests)} requests, the same in both · SLO: 200 within ${ms(s.sloMs)} ms · ` +
      `clients give up after ${seconds(s.timeoutMs)}`,
    '',
  );
  row(
    '',
    runs.map((r) => r.name),
  );
  row(
    `goodput within ${ms(s.sloMs)} ms, req/s`,
    runs.map((r) => amount(r.goodput)),
  );
  row(
    '  share of all requests',
    runs.map((r) => percent(r.goodputShare)),
  );
  for (const [i, p] of s.phases.entries()) {
    const when = `${seconds(p.fromMs)}–${seconds(p.toMs)}`;
    row(
      `  ${p.name} (${when}, ${speedText(p.speed)})`,
      runs.map((r) => amount(r.phases[i]?.goodput)),
    );
  }
  row(
    'latency of successes p50, ms',
    runs.map((r) => ms(r.p50)),
  );
  row(
    'latency of successes p99, ms',
    runs.map((r) => ms(r.p99)),
  );
  row(
    'answered 200',
    runs.map((r) => count(r.success)),
  );
  row(
    'timeouts',
    runs.map((r) => count(r.timeouts)),
  );
  row(
    'errors',
    runs.map((r) => count(r.errors)),
  );
  row(
    'shed at once (503, Retry-After)',
    runs.map((r) => count(r.shed)),
  );
  row(
    'replica-seconds (workers x s)',
    runs.map((r) => amount(r.replicaSeconds)),
  );
  row(
    'workers at most',
    runs.map((r) => count(r.peakReplicas)),
  );

  const spark = Math.max(20, Math.min(60, width - 20));
  const top = Math.max(1, ...runs.flatMap((r) => r.goodputPerSecond));
  out.push('', `goodput within SLO each second, by send time (peak ${count(top)}/s):`);
  for (const r of runs)
    out.push(`  ${r.name.padEnd(16)}${sparkline(r.goodputPerSecond, { width: spark, max: top })}`);
  const scaled = runs.find((r) => r.sluice);
  if (scaled !== undefined) {
    const most = Math.max(1, ...scaled.replicasPerSecond);
    out.push(
      `  ${'workers'.padEnd(16)}${sparkline(scaled.replicasPerSecond, { width: spark, min: 0, max: most })}` +
        `  (${scaled.name}: ${count(Math.min(...scaled.replicasPerSecond))}–${count(most)})`,
    );
    const limits = scaled.limitPerSecond?.filter((l) => Number.isFinite(l)) ?? [];
    if (limits.length > 0) {
      const high = Math.max(...limits);
      out.push(
        `  ${'limit'.padEnd(16)}${sparkline(scaled.limitPerSecond ?? [], { width: spark, min: 0, max: high })}` +
          `  (the gateway's adaptive limit: ${amount(Math.min(...limits))}–${amount(high)})`,
      );
    }
  }
  const speeds = s.phases.map((p) => `${p.name} ${speedText(p.speed)}`).join(', then ');
  out.push(
    '',
    `downstream: ${s.workers} workers${scaled === undefined ? '' : ` (autoscaled ${s.minWorkers}–${s.maxWorkers} with sluice)`}, ` +
      `service lognormal median ${s.service.median} ms p99 ${s.service.p99} ms at full speed; speed ${speeds}.`,
    `load: Poisson at ${amount(s.rate)} req/s with bursts at ${amount(s.burstRate)} req/s; open loop (nobody waits for ` +
      `an answer to send the next).`,
  );
  return `${out.map((l) => l.trimEnd()).join('\n')}\n`;
}
