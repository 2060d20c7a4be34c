import type { Clock, Timer } from '../core/clock.ts';
import { aimd } from '../limits/aimd.ts';
import type { Limit } from '../limits/limit.ts';
import type { Trackable } from '../metrics/tracker.ts';
import { type LimiterCollector, limiterCollector } from '../scale/collectors/limiter.ts';
import { type AutoscaleDecision, type Autoscaler, createAutoscaler } from '../scale/controller.ts';
import { targetTracking } from '../scale/policies/target-tracking.ts';
import { type Downstream, startDownstream } from './downstream.ts';
import { type Gateway, startPlainGateway, startSluiceGateway } from './gateway.ts';
import { type Outcome, sendLoad } from './load.ts';
import { type DemoPlan, phaseAt } from './plan.ts';

/**
 * One run of the demo: a fresh downstream, a gateway in front of it, the plan's load through the gateway
 * and the plan's speed changes on the downstream, on real time. With sluice, the downstream's pool is
 * sized by the autoscaler; without, it keeps its starting workers.
 */

/** What the terminal's live line shows, a few times a second. */
export interface LiveStatus {
  readonly run: string;
  readonly phase: string;
  /** Time into the run and its planned length (ms). */
  readonly elapsed: number;
  readonly duration: number;
  /** Answers within the SLO per second, over the last two seconds (by answer time). */
  readonly goodput: number;
  /** p99 of the successes answered over the last two seconds (ms); NaN when none. */
  readonly p99: number;
  /** The gateway's adaptive limit, with sluice. */
  readonly limit: number | undefined;
  /** Workers asked for. */
  readonly replicas: number;
}

/** The places a run reports to as it goes. */
export interface RunHooks {
  /** The live line. */
  readonly status?: (status: LiveStatus) => void;
  /** Something worth a line of its own: a phase change, a scaling decision, the breaker's state. */
  readonly event?: (elapsed: number, text: string) => void;
  /** The run's load has ended (every request answered or given up). */
  readonly done?: () => void;
  /** Shows a component on the dashboard under `name` (until the dashboard closes). */
  readonly track?: (component: Trackable, name: string) => void;
}

export interface RunOptions {
  readonly plan: DemoPlan;
  /** With sluice (protected gateway, autoscaled pool) or without (plain gateway, static pool). */
  readonly sluice: boolean;
  readonly clock: Clock;
  /** Stops the load early; the run still cleans up and returns what it saw. */
  readonly signal?: AbortSignal;
  readonly hooks?: RunHooks;
}

export interface RunRecord {
  readonly name: string;
  readonly sluice: boolean;
  /** Every request, in order of ending. */
  readonly outcomes: readonly Outcome[];
  /** Integral of the workers asked for over the planned run (worker-seconds). */
  readonly replicaSeconds: number;
  readonly peakReplicas: number;
  /** Sampled once a second of the run: workers asked for, and the gateway's limit (NaN without sluice). */
  readonly replicas: readonly number[];
  readonly limits: readonly number[];
  /** Scaling steps the autoscaler took. */
  readonly scalings: number;
}

/** How often the live line and the per-second samples are taken (ms). */
const STATUS_INTERVAL = 250;
/** Window of the live line's goodput and p99 (ms). */
const LIVE_WINDOW = 2000;

export function runName(sluice: boolean): string {
  return sluice ? 'with sluice' : 'without sluice';
}

/**
 * The demo plays minutes of a service's life in seconds, so its slow loops run on that time scale: the
 * autoscaler ticks every second (the HPA's 15 s) with a scale-down window of five ticks (5 minutes). This
 * is the tick for a run of `duration` ms: about 40 of them, between 250 ms and 1 s apart.
 */
export function scaleInterval(duration: number): number {
  return Math.min(1000, Math.max(250, Math.round(duration / 40)));
}

/**
 * The gateway's limit: AIMD with the latency objective as its signal. It adds one request to the limit
 * each round trip while answers come back within half the SLO, and cuts it by 10% when one does not, or
 * when the downstream refuses or times out. The other half of the SLO is headroom: for the wait in the
 * gateway's queue, and for the moment the downstream slows, before the limit has backed off.
 *
 * Why not protect()'s default (a windowed Gradient2): a latency-gradient limit reads a slower downstream as
 * a queue at it, and cuts concurrency until latency is back at its no-load level. That is right when the
 * slowness is a congested dependency, which more requests would only slow further; here the workers are
 * free, only slower, so it sheds work they could do, until probes have taught it the new no-load latency
 * (tens of seconds). Measured on this plan (runs of 40 s, 2 cores): with the default, 80% of the requests
 * were answered within the SLO (72 of 134 req/s during the drop); with this limit, 95% (159-163 req/s).
 * The default's check for a slower downstream (`Elasticity`) needs the episode's rounds to queue beyond its
 * allowance across a twofold range of concurrency; at this demo's modest demand it caught the slower
 * service in one run of two (93% within the SLO, 80% in the other).
 */
function gatewayLimit(plan: DemoPlan): Limit {
  return aimd({ timeout: Math.round(plan.slo / 2) });
}

export async function runOnce(options: RunOptions): Promise<RunRecord> {
  const { plan, sluice, clock, signal } = options;
  const hooks = options.hooks ?? {};
  const name = runName(sluice);
  const prefix = sluice ? 'sluice' : 'plain';
  const cleanups: (() => void | Promise<void>)[] = [];
  const track = (component: Trackable, label: string): void => hooks.track?.(component, label);

  const downstream: Downstream = await startDownstream({ plan, clock, name: `${prefix}.pool` });
  cleanups.push(() => downstream.close());
  try {
    const gateway: Gateway = sluice
      ? await startSluiceGateway(downstream.url, {
          clock,
          name: `${prefix}.gateway`,
          limit: gatewayLimit(plan),
        })
      : await startPlainGateway(downstream.url);
    cleanups.push(() => gateway.close());
    const start = clock.now();
    const elapsed = (): number => clock.now() - start;

    // Replica-seconds over the planned run, from the pool's own resize records.
    const pool = downstream.pool;
    let area = 0;
    let sizeSince = start;
    let peak = pool.size;
    const offResize = pool.on('resize', (e) => {
      const at = Math.min(e.at, start + plan.duration);
      area += e.previous * Math.max(0, at - sizeSince);
      sizeSince = Math.max(sizeSince, at);
      peak = Math.max(peak, e.size);
    });
    cleanups.push(offResize);

    track(pool, `${prefix}.pool`);
    let scalings = 0;
    if (gateway.protection !== undefined) track(gateway.protection, `${prefix}.gateway`);
    if (gateway.breaker !== undefined) {
      track(gateway.breaker, `${prefix}.breaker`);
      cleanups.push(
        gateway.breaker.on('state', (e) =>
          hooks.event?.(e.at - start, `breaker ${e.from} → ${e.to} (${e.reason.rule})`),
        ),
      );
    }
    if (sluice && gateway.protection !== undefined) {
      const started = startAutoscaler(plan, downstream, gateway, clock, `${prefix}.autoscaler`);
      const scaler = started.autoscaler;
      cleanups.push(() => started.collector.close());
      track(scaler, `${prefix}.autoscaler`);
      cleanups.push(
        scaler.on('decision', (d) => {
          if (!d.changed) return;
          scalings++;
          hooks.event?.(d.at - start, `workers ${d.capacity.desired} → ${d.replicas}: ${reasonOf(d)}`);
        }),
      );
      // The first decision waits one interval, so that it sees a full interval of readings.
      const timer = clock.setTimer(() => scaler.start(), scaleInterval(plan.duration));
      cleanups.push(async () => {
        timer.cancel();
        await scaler.stop();
      });
    }

    // The downstream's speed, on the plan's schedule.
    const timers: Timer[] = [];
    for (const phase of plan.phases) {
      const apply = (): void => {
        downstream.setSpeed(phase.speed);
        hooks.event?.(elapsed(), `${phase.name}: ${phase.says}`);
      };
      if (phase.from === 0) apply();
      else timers.push(clock.setTimer(apply, phase.from));
    }
    cleanups.push(() => {
      for (const t of timers) t.cancel();
    });

    // The live line, and the per-second samples.
    const recent: Outcome[] = [];
    const replicas: number[] = [];
    const limits: number[] = [];
    const limiter = gateway.protection?.limiter;
    const sample = (): void => {
      const t = elapsed();
      while (replicas.length < Math.min(Math.ceil(plan.duration / 1000), Math.floor(t / 1000) + 1)) {
        replicas.push(pool.size);
        limits.push(limiter?.limit ?? Number.NaN);
      }
      let first = 0;
      while (first < recent.length && recent[first]!.end <= t - LIVE_WINDOW) first++;
      if (first > 0) recent.splice(0, first);
      const latencies: number[] = [];
      let good = 0;
      for (const o of recent) {
        if (o.kind !== 'success') continue;
        latencies.push(o.latency);
        if (o.latency <= plan.slo) good++;
      }
      latencies.sort((a, b) => a - b);
      const window = Math.min(LIVE_WINDOW, Math.max(t, 1));
      hooks.status?.({
        run: name,
        phase: phaseAt(plan, t).name,
        elapsed: Math.min(t, plan.duration),
        duration: plan.duration,
        goodput: (good * 1000) / window,
        p99: latencies.length === 0 ? Number.NaN : latencies[Math.floor(0.99 * (latencies.length - 1))]!,
        limit: limiter?.limit,
        replicas: pool.size,
      });
    };
    let sampler: Timer | undefined;
    const every = (): void => {
      sample();
      sampler = clock.setTimer(every, STATUS_INTERVAL);
    };
    every();
    cleanups.push(() => sampler?.cancel());

    const outcomes = await sendLoad({
      url: `${gateway.url}/`,
      arrivals: plan.arrivals,
      timeout: plan.timeout,
      clock,
      ...(signal === undefined ? {} : { signal }),
      onOutcome: (o) => recent.push(o),
    });
    sample();
    hooks.done?.();
    const end = start + plan.duration;
    area += pool.size * Math.max(0, end - sizeSince);
    return {
      name,
      sluice,
      outcomes,
      replicaSeconds: area / 1000,
      peakReplicas: peak,
      replicas,
      limits,
      scalings,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/**
 * The autoscaler of the sluice run: the real controller on the pool's own collector and actuator, plus
 * the gateway's limiter. Two proposals, the larger wins: the pool's utilisation held at 70% (the HPA's
 * rule), and the demand at the gateway — requests in flight and waiting over the limit — held at 90%,
 * since utilisation stops at 100% and cannot say how much is missing once the gateway sheds. Scale-up
 * acts at once; scale-down waits for five quiet ticks, a short version of the HPA's 5-minute window.
 */
function startAutoscaler(
  plan: DemoPlan,
  downstream: Downstream,
  gateway: Gateway,
  clock: Clock,
  name: string,
): { readonly autoscaler: Autoscaler; readonly collector: LimiterCollector } {
  const interval = scaleInterval(plan.duration);
  const limiter = limiterCollector(gateway.protection!.limiter, { clock, latency: false });
  const autoscaler = createAutoscaler({
    name,
    collectors: [downstream.pool.collector, limiter],
    policies: [
      targetTracking({ signal: 'utilisation', target: 0.7 }),
      targetTracking({ signal: 'demand', target: 0.9 }),
    ],
    actuator: downstream.pool.actuator,
    clock,
    interval,
    min: plan.minWorkers,
    max: plan.maxWorkers,
    behavior: {
      scaleUp: {
        stabilizationWindowMs: 0,
        policies: [
          { type: 'percent', value: 100, periodMs: interval },
          { type: 'pods', value: 4, periodMs: interval },
        ],
      },
      scaleDown: {
        stabilizationWindowMs: 5 * interval,
        policies: [{ type: 'percent', value: 50, periodMs: interval }],
      },
    },
    horizon: 2 * interval,
  });
  return { autoscaler, collector: limiter };
}

/** The winning proposal's reason, with the guards that bounded it. */
function reasonOf(d: AutoscaleDecision): string {
  const winner = d.proposals.find((p) => p.rule === d.rule);
  const why = winner === undefined ? d.summary : `${d.rule}, ${winner.reason}`;
  return d.clamps.length === 0 ? why : `${why}; ${d.clamps.map((c) => `${c.guard} ${c.to}`).join(', ')}`;
}
