import { parseArgs } from 'node:util';
import { type DemoDashboard, openDashboard } from '../demo/dashboard.ts';
import { runDemo } from '../demo/demo.ts';
import { type DemoPlan, speedText } from '../demo/plan.ts';
import { renderDemoTable } from '../demo/report.ts';
import type { LiveStatus, RunHooks } from '../demo/run.ts';
import { amount, ms } from '../sim/report/format.ts';
import type { Command } from './command.ts';
import { fromParseArgs, UsageError } from './errors.ts';
import type { CliIo, Output } from './io.ts';
import { ProgressBar } from './progress.ts';
import { parseDuration } from './simulate.ts';

const help = `Usage: sluice demo [options]

sluice at work on this machine, in one process, with nothing but Node.js: a downstream HTTP service
backed by a worker pool, whose speed drops to a third mid-run and then recovers beyond where it
started; open-loop bursty load; and a gateway in front. The same run (the same seeded arrivals and
speed changes, on real sockets and real timers) goes twice:

  with sluice      protect() at the gateway (an adaptive concurrency limit that keeps answers within
                   half the SLO, a short deadline-aware queue, fast 503s with Retry-After), the
                   guarded fetch to the downstream (a circuit breaker, retries within a budget, the
                   client's deadline), and the autoscaler sizing the downstream's worker pool
  without sluice   a plain gateway forwarding everything to a pool of fixed size

and ends with the two side by side: goodput within the SLO, latency of successes, timeouts, errors,
load shed, and replica-seconds. The live dashboard, whose URL is printed first, charts both runs as
they happen: the gateway's limit and shedding, the breaker, the pool, the autoscaler's decisions.

Options:
  --duration <time>  both runs together: 80s (default), 2m, 30000 (ms); at least 4s
  --short            a run of a few seconds (6s), for a smoke test
  --seed <n>         seed of the arrivals and service times (default 1)
  --port <n>         port of the dashboard on 127.0.0.1; default 0 (a free port)
  --no-dashboard     do not start the dashboard
  --json             print the final table as JSON on standard output
  -h, --help         show this help

The simulator's side-by-side comparison (virtual time, no sockets) is
'sluice simulate capacity-drop --compare'.

Exit status: 0 on success, 1 if a port cannot be bound, 2 on a usage error, 130 if interrupted.
`;

const options = {
  duration: { type: 'string' },
  short: { type: 'boolean' },
  seed: { type: 'string' },
  port: { type: 'string' },
  'no-dashboard': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `sluice demo`: the live demo, with and without sluice, side by side. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'Watch sluice protect and scale a live service, side by side with no protection',
  help,
  run: demo,
};

const DEFAULT_DURATION = 80_000;
const SHORT_DURATION = 6000;
const MIN_DURATION = 4000;

async function demo(args: readonly string[], io: CliIo): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(args).values;
  } catch (error) {
    throw fromParseArgs(error) ?? error;
  }
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (values.short && values.duration !== undefined)
    throw new UsageError('--short and --duration exclude each other');
  const duration = values.short ? SHORT_DURATION : durationFlag(values.duration);
  const seed = values.seed === undefined ? 1 : integerFlag('--seed', values.seed, 0);
  const port = values.port === undefined ? 0 : integerFlag('--port', values.port, 0, 65_535);

  const err = io.stderr;
  let dashboard: DemoDashboard | undefined;
  if (values['no-dashboard'] !== true) {
    try {
      dashboard = await openDashboard({ clock: io.clock, port });
    } catch (error) {
      err.write(`sluice demo: cannot start the dashboard: ${(error as Error).message}\n`);
      return 1;
    }
  }
  try {
    const report = await runDemo({
      duration,
      seed,
      clock: io.clock,
      ...(io.signal === undefined ? {} : { signal: io.signal }),
      onPlan: (plan) => {
        err.write(introduction(plan));
        if (dashboard !== undefined) err.write(`dashboard: ${dashboard.url}\n`);
      },
      hooks: (run) => live(io, run, duration / 2, dashboard),
    });
    if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout.write(`\n${renderDemoTable(report, io.stdout.columns || 100)}`);
    return 0;
  } finally {
    await dashboard?.close();
  }
}

function parse(args: readonly string[]) {
  return parseArgs({ args: [...args], options, allowPositionals: false, strict: true });
}

function durationFlag(text: string | undefined): number {
  if (text === undefined) return DEFAULT_DURATION;
  let value: number;
  try {
    value = parseDuration(text);
  } catch {
    throw new UsageError(`--duration must be a time such as 80s, 2m or 30000 (ms), got "${text}"`);
  }
  if (value < MIN_DURATION)
    throw new UsageError(`--duration must be at least 4s (two runs of 2s), got "${text}"`);
  return value;
}

function integerFlag(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be an integer in [${min}, ${max}], got "${text}"`);
  }
  return Number(text);
}

function introduction(plan: DemoPlan): string {
  const s = (t: number): string => `${amount(t / 1000).replace(/\.0$/, '')} s`;
  const [, drop, recovery] = plan.phases;
  const changes =
    drop === undefined || recovery === undefined
      ? ''
      : `\n              its speed drops to ${speedText(drop.speed)} at ${s(drop.from)}, recovers to ${speedText(recovery.speed)} at ${s(recovery.from)}`;
  return `sluice demo: the same ${s(plan.duration)} run twice, with sluice and then without
  downstream  HTTP on a worker pool: ${plan.workers} workers, service lognormal median ${plan.serviceSpec.median} ms, p99 ${plan.serviceSpec.p99} ms;${changes}
  load        ${plan.arrivals.length} requests, Poisson at ${amount(plan.rate)} req/s with bursts at ${amount(plan.burstRate)} req/s;
              clients give up after ${ms(plan.timeout)} ms; a good answer is a 200 within ${ms(plan.slo)} ms
  with sluice the gateway is protected, and the autoscaler sizes the pool (${plan.minWorkers}-${plan.maxWorkers} workers)
`;
}

/**
 * The terminal while a run goes: on a terminal, a live line (phase, time, goodput, p99, limit, workers)
 * redrawn in place under the run's events; elsewhere, the events and a status line now and then.
 */
function live(
  io: CliIo,
  run: { readonly name: string; readonly sluice: boolean; readonly index: number },
  duration: number,
  dashboard: DemoDashboard | undefined,
): RunHooks {
  const err: Output = io.stderr;
  const tty = err.isTTY === true;
  const bar = tty ? new ProgressBar(err, io.clock, { delay: 0, interval: 200 }) : undefined;
  const what = run.sluice
    ? 'protect() + guarded fetch, autoscaled pool'
    : 'a plain gateway forwarding everything, a fixed pool';
  err.write(`\n${run.index + 1}/2 ${run.name}: ${what}\n`);
  const every = Math.max(2000, duration / 6);
  let printedAt = 0;
  let last: LiveStatus | undefined;
  const line = (s: LiveStatus): string => {
    const limit = s.limit === undefined ? '' : ` · limit ${Math.round(s.limit)}`;
    const p99 = Number.isFinite(s.p99) ? `${ms(s.p99)} ms` : '—';
    return `${s.phase} ${(s.elapsed / 1000).toFixed(0)}/${(s.duration / 1000).toFixed(0)} s · good ${amount(s.goodput)}/s · p99 ${p99}${limit} · workers ${s.replicas}`;
  };
  const hooks: RunHooks = {
    status: (s) => {
      last = s;
      if (bar !== undefined) bar.update(s.elapsed / s.duration, line(s));
      else if (s.elapsed - printedAt >= every) {
        printedAt = s.elapsed;
        err.write(`  ${(s.elapsed / 1000).toFixed(1).padStart(5)} s  ${line(s)}\n`);
      }
    },
    event: (elapsed, text) => {
      bar?.done();
      err.write(`  ${(Math.max(0, elapsed) / 1000).toFixed(1).padStart(5)} s  ${text}\n`);
      if (bar !== undefined && last !== undefined) bar.update(last.elapsed / last.duration, line(last));
    },
    done: () => {
      bar?.done();
      if (last !== undefined)
        err.write(`  ${(last.elapsed / 1000).toFixed(1).padStart(5)} s  ${line(last)}\n`);
    },
  };
  if (dashboard !== undefined)
    return { ...hooks, track: (component, name) => dashboard.track(component, name) };
  return hooks;
}
