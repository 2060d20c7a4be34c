import { type Clock, systemClock } from '../core/clock.ts';
import { type DemoPlan, demoPlan } from './plan.ts';
import { type DemoReport, type DemoRun, demoReport, summarise } from './report.ts';
import { type RunHooks, runName, runOnce } from './run.ts';

/**
 * The demo, `npm start` and `sluice demo`: on this machine, in this process, with nothing but Node.js.
 *
 *   load ──▶ gateway ──▶ downstream (HTTP, a worker pool)
 *   open-loop,  plain, or      workers hold each request for a lognormal service time; their speed
 *   bursty      sluice-        drops to a third mid-run, then recovers beyond where it started
 *               protected      ▲
 *                              └── with sluice, the autoscaler sizes the pool
 *
 * The same plan (arrivals, service times, speed changes) runs twice on real time and real sockets: with
 * sluice, then without. The sluice run goes first, so that the dashboard lights up at once, and so that
 * any warming of the process's code favours the run without sluice.
 */

export interface DemoOptions {
  /** Length of both runs together (ms). Default 80 000. */
  readonly duration?: number;
  /** Seed of the arrivals and service times. Default 1. */
  readonly seed?: number;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Stops the demo early (the run in progress cleans up; the result covers what ran). */
  readonly signal?: AbortSignal;
  /** Progress, events and the dashboard; told which run they are about. */
  readonly hooks?: (run: {
    readonly name: string;
    readonly sluice: boolean;
    readonly index: number;
  }) => RunHooks;
  /** Called with the plan before the first run. */
  readonly onPlan?: (plan: DemoPlan) => void;
}

/** Runs the demo: both runs, then the report, without sluice first in it. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const clock = options.clock ?? systemClock;
  const plan = demoPlan({ duration: (options.duration ?? 80_000) / 2, seed: options.seed ?? 1 });
  options.onPlan?.(plan);
  const runs: DemoRun[] = [];
  for (const [index, sluice] of [true, false].entries()) {
    if (options.signal?.aborted === true) break;
    const hooks = options.hooks?.({ name: runName(sluice), sluice, index }) ?? {};
    const record = await runOnce({
      plan,
      sluice,
      clock,
      hooks,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    runs.push(summarise(plan, record));
  }
  options.signal?.throwIfAborted();
  return demoReport(
    plan,
    [...runs].sort((a, b) => Number(a.sluice) - Number(b.sluice)),
  );
}
