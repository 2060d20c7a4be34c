import { ConfigError } from '../core/errors.ts';
import { bool, checkKeys, join } from '../core/spec.ts';
import { finite, fraction, nonNegative, oneOf, positive } from '../core/validate.ts';
import { type AutoscaleDecision, type AutoscalerOptions, createAutoscaler } from '../scale/controller.ts';
import { type Behavior, resolveBehavior } from '../scale/guards.ts';
import { burst } from '../scale/policies/burst.ts';
import { hpaBaseline, hpaDefaults } from '../scale/policies/hpa.ts';
import { predictive } from '../scale/policies/predictive.ts';
import { targetTracking } from '../scale/policies/target-tracking.ts';
import type { Actuator, Collector, Readings, ScalingPolicy } from '../scale/types.ts';
import { LatencyHistogram } from '../signals/histogram.ts';
import { construct } from './construct.ts';
import type { DownstreamControl } from './downstream.ts';
import type { PolicyContext, PolicyFactory, SimPolicy } from './policy.ts';

/**
 * `autoscale`: sluice's autoscaler (`createAutoscaler` from `sluice/scale`, the real controller, policies
 * and guards) on the simulation's clock, scaling the downstream's replicas. As a policy stage it admits
 * every attempt; it only watches them. Put it first in a pipeline (`[{ type: "autoscale" }, { type:
 * "limiter" }]`) so that it sees the whole offered load, not what a limiter let through.
 *
 * Ticks run every `interval` on the engine's clock, the first one `interval` after the start; each tick's
 * promise is followed (`context.track`), so its decision and its scale call land at the tick's own time.
 *
 * The stage's collector gives these readings, each over the interval since the previous tick unless it
 * says "now":
 * - `utilisation`: busy servers over the servers of the ready replicas, averaged over time. A CPU-like
 *   measure: it saturates at 1, however far the load exceeds the capacity there is.
 * - `concurrency`: requests in service or waiting, per ready replica, averaged over time.
 * - `rps`: attempts offered to the stage per second.
 * - `queue`: requests waiting in the downstream, now.
 * - `inflight`: attempts the stage admitted and has not seen settled, now.
 * - `p99`: the 99th percentile of the successes' latency (ms, from admission by the stage).
 * - `serviceTime`: mean service time (ms) by the utilisation law, busy server-time over completions. It
 *   counts the answers the stage is told of (successes and errors) as completions; work that finishes
 *   after a call `timeout` goes uncounted and inflates it (which scales up, not down).
 * - `demand`: the offered load in replicas' worth of work, `rps x serviceTime / servers per replica`.
 *   Unlike utilisation it does not saturate: a load five times the capacity reads five times.
 * - `burstDemand`: `demand` over the last `burstWindow` only (a panic window, as Knative's).
 *
 * Presets (`preset`):
 * - `"hpa"`: the Kubernetes HPA as a baseline: `hpaBaseline` on `utilisation` (the CPU of the pods) with
 *   its 10% tolerance, `hpaDefaults` (a 15 s loop; scale up at once by 100% or 4 pods per 15 s, whichever is
 *   more; scale down to the highest recommendation of the last 300 s, by up to 100% per 15 s). Replicas are
 *   left out of the measure for one interval after they become ready (`warmup`), as the HPA's CPU
 *   initialization period leaves out pods whose metric window began before they were ready; and, as the
 *   HPA, the controller takes the count it finds at its first decision for a recommendation, so it does
 *   not scale down in its first 300 s.
 * - `"sluice"`: the policies and guards argued for in `sluicePolicies` and `sluiceBehavior` below.
 * - `"static"`: no controller; the fleet stays as the downstream starts it. The readings and gauges are
 *   still kept, for reports.
 */
export interface AutoscaleSpec {
  readonly type: 'autoscale';
  /** Default `"sluice"`. */
  readonly preset?: AutoscalePreset;
  /** Fewest replicas. Default 1. */
  readonly min?: number;
  /** Most replicas. Default 100. */
  readonly max?: number;
  /** Time between decisions (ms). Default 15000. */
  readonly interval?: number;
  /**
   * The reading (see above) the proportional rule (HPA's, or sluice's target tracking) holds at `target`.
   * Default `"utilisation"`.
   */
  readonly signal?: string;
  /** Per-replica target of `signal`. Default 0.6 (60% utilisation). */
  readonly target?: number;
  /**
   * Utilisation sluice's demand and burst rules size for (sluice preset). Default `target` when `signal` is
   * `"utilisation"`, else 0.6.
   */
  readonly utilisation?: number;
  /** Tolerance band of the proportional rules. Default 0.1. */
  readonly tolerance?: number;
  /** How long a new replica takes to serve (ms): the horizon of the forecasts. Default 30000. */
  readonly readiness?: number;
  /** Ready replicas left out of per-replica signals for this long (ms). Default `interval`. */
  readonly warmup?: number;
  /** Stabilization windows and rate policies (ms), HPA style; replaces the preset's. */
  readonly behavior?: Behavior;
  /** Waits after changes (ms). Default none. */
  readonly cooldown?: { readonly up?: number; readonly down?: number };
  /**
   * Whether sluice's demand rule is wrapped in `predictive` (forecasts at `readiness`, weighted by their
   * accuracy). Default false: see `sluicePolicies`.
   */
  readonly predictive?: boolean;
  /** Panic window of `burstDemand` (ms), whole seconds. Default 6000. */
  readonly burstWindow?: number;
  /** Period at which the stage samples the downstream (ms). Default 250. */
  readonly sampleEvery?: number;
}

export type AutoscalePreset = 'sluice' | 'hpa' | 'static';

/** One decision of the stage's autoscaler, as reports need it. */
export interface AutoscaleRecord {
  /** Sequence number of the decision (1, 2, ...). */
  readonly seq: number;
  /** Simulated time of the tick (ms). */
  readonly at: number;
  /** Replicas asked for before the decision. */
  readonly from: number;
  /** The winning proposal, before the guards. */
  readonly proposed: number;
  /** Replicas decided. */
  readonly to: number;
  /** Replicas ready at the tick. */
  readonly ready: number;
  /** `"up"` or `"down"` when the decision changed the count, else `"hold"`. */
  readonly direction: 'up' | 'down' | 'hold';
  /** The rule that won (`"hpa:utilisation"`, `"burst:burstDemand"`, `"hold"`, ...). */
  readonly rule: string;
  /** Guards that bound the count, e.g. `"scaleDown.stabilization 4→6"`. */
  readonly clamps: readonly string[];
  /** The decision's one-line summary. */
  readonly summary: string;
  /** Simulated time the decision reached the stage (ms): equal to `at` unless the engine settled it late. */
  readonly deliveredAt: number;
}

/** The stage's settings, once built. */
export interface AutoscaleStageInfo {
  readonly preset: AutoscalePreset;
  readonly interval: number;
  readonly min: number;
  readonly max: number;
  /** Stabilization windows in force (ms); 0 for `static`. */
  readonly scaleUpWindow: number;
  readonly scaleDownWindow: number;
}

/** Listens to an `autoscale` stage: for reports that need every decision, not only the gauges. */
export interface AutoscaleObserver {
  /** Once, when the stage is built. */
  started?(info: AutoscaleStageInfo): void;
  /** Each decision, at the simulated time it was made. */
  decision?(record: AutoscaleRecord): void;
}

/** The readings the stage's collector gives (see `AutoscaleSpec`). */
const READINGS = [
  'utilisation',
  'concurrency',
  'rps',
  'queue',
  'inflight',
  'p99',
  'serviceTime',
  'demand',
  'burstDemand',
] as const;

const KEYS = [
  'type',
  'preset',
  'min',
  'max',
  'interval',
  'signal',
  'target',
  'utilisation',
  'tolerance',
  'readiness',
  'warmup',
  'behavior',
  'cooldown',
  'burstWindow',
  'sampleEvery',
  'predictive',
];

/**
 * Microtask rounds the engine waits for a delivery (see `EngineOptions.settleRounds`). A tick of the
 * controller takes about a dozen microtask turns to settle (collection, then the actuator's call), more
 * than the engine waits by default; rather than make every event of the run wait that long, the stage keeps
 * the engine waiting only while a tick is in flight, by following a chain of settled promises, one per turn
 * (`keepAlive`). Two rounds leave a margin of one turn.
 */
const SETTLE_ROUNDS = 2;

/** Most microtask turns a tick is waited for at its own time. */
const MAX_TURNS = 1000;

/**
 * The policies of the sluice preset. Each was kept because the scaling benchmarks (`compareScaling` on the
 * `scaling-*` scenarios, several seeds) showed it earning its place:
 *
 * - Target tracking on `signal` (utilisation) at `target`, the HPA's own rule: the floor.
 * - Target tracking on `demand`, smoothed (30 s half-life), at the target utilisation. Utilisation saturates
 *   at the capacity there is, so an HPA multiplies the fleet by at most `1 / target` per cycle and waits for
 *   each step to start; demand reads a 5x spike as 5x at once. Smoothed, it is the stable rule (Knative's
 *   60 s stable window plays the same part): after a burst it lets capacity go as the load's average falls,
 *   not all at once.
 * - `burst` on `burstDemand` (the last 6 s) once the load per ready replica passes 1.5x the target: the
 *   panic rule, which asks at once for the replicas the load needs, counting those already starting, so it
 *   does not flood. Its trend look-ahead is off: a step (a flash crowd) reads as a steep trend and sized the
 *   fleet a third above the need.
 * - With `predictive: true`, the demand rule runs on forecasts at `readiness` too, weighted by their
 *   accuracy. Off by default: on these scenarios forecasts misread bursts and steps as trends and cost more
 *   replica-seconds than they saved SLO seconds (measured: the same violations on the diurnal day, up to 30%
 *   more replica-seconds on bursts).
 */
function sluicePolicies(
  signal: string,
  target: number,
  utilisation: number,
  tolerance: number,
  readiness: number,
  forecast: boolean,
): ScalingPolicy[] {
  const demand = targetTracking({
    signal: 'demand',
    per: 'total',
    target: utilisation,
    tolerance,
    use: 'smoothed',
  });
  return [
    targetTracking({ signal, target, tolerance }),
    forecast ? predictive({ policy: demand }) : demand,
    burst({
      signal: 'burstDemand',
      per: 'total',
      target: utilisation,
      threshold: 1.5,
      readiness,
      trend: false,
    }),
  ];
}

/**
 * The guards of the sluice preset:
 * - Scale-up: no window, up to 10x per 15 s. The burst rule sizes absolutely, from the load; a rate cap would
 *   only split one right answer over several cycles, each waiting for its replicas.
 * - Scale-down: a 90 s window (twice the mean start-up delay: a burst that comes back within it finds its
 *   capacity, and one that does not is not paid for five minutes), then as fast as the HPA (100% per 15 s),
 *   since the smoothed demand rule already lowers the count gradually.
 * The controller adds a warm-up of one interval, so that replicas just ready are not read as idle capacity.
 */
export function sluiceBehavior(): Behavior {
  return {
    scaleUp: {
      stabilizationWindowMs: 0,
      selectPolicy: 'max',
      policies: [{ type: 'percent', value: 900, periodMs: 15_000 }],
    },
    scaleDown: {
      stabilizationWindowMs: 90_000,
      selectPolicy: 'max',
      policies: [{ type: 'percent', value: 100, periodMs: 15_000 }],
    },
  };
}

/**
 * Builds the `autoscale` policy type, telling `observer` of each decision (see `AutoscaleObserver`). The
 * built-in `autoscale` type is `autoscalePolicyFactory()`.
 */
export function autoscalePolicyFactory(observer: AutoscaleObserver = {}): PolicyFactory {
  return (spec, context, path) => autoscaleStage(spec, context, path, observer);
}

/** The built-in `autoscale` policy type. */
export const autoscalePolicy: PolicyFactory = autoscalePolicyFactory();

function autoscaleStage(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
  observer: AutoscaleObserver,
): SimPolicy {
  checkKeys(path, spec, KEYS);
  const at = (k: string): string => join(path, k);
  const preset = oneOf(at('preset'), spec['preset'] ?? 'sluice', ['sluice', 'hpa', 'static'] as const);
  const interval = spec['interval'] === undefined ? 15_000 : positive(at('interval'), spec['interval']);
  const signal: string = oneOf(at('signal'), spec['signal'] ?? 'utilisation', READINGS);
  const target = spec['target'] === undefined ? 0.6 : positive(at('target'), spec['target']);
  const utilisation =
    spec['utilisation'] !== undefined
      ? fraction(at('utilisation'), spec['utilisation'], { open: true })
      : signal === 'utilisation'
        ? target
        : 0.6;
  const tolerance = spec['tolerance'] === undefined ? 0.1 : fraction(at('tolerance'), spec['tolerance']);
  if (tolerance >= 1) throw new ConfigError(at('tolerance'), tolerance, 'a number in [0, 1)');
  const readiness =
    spec['readiness'] === undefined ? 30_000 : finite(at('readiness'), spec['readiness'], 0, 3_600_000);
  const warmup = spec['warmup'] === undefined ? interval : nonNegative(at('warmup'), spec['warmup']);
  const burstWindow =
    spec['burstWindow'] === undefined ? 6_000 : finite(at('burstWindow'), spec['burstWindow'], 1000, 600_000);
  const sampleEvery =
    spec['sampleEvery'] === undefined ? 250 : finite(at('sampleEvery'), spec['sampleEvery'], 1, interval);

  const forecast = bool(at('predictive'), spec['predictive'], false);
  const clock = context.clock;
  const meter = new Meter(context.downstream, burstWindow);

  const stage = (name: string, settleRounds: number): SimPolicy => ({
    name,
    gaugeNames: ['desired'],
    settleRounds,
    offer(request, gate) {
      meter.arrived(clock.now());
      gate.admit(request);
    },
    settle(_request, _token, settlement, rtt) {
      meter.settled(settlement, rtt);
    },
    gauges: () => [context.downstream.desired],
  });

  if (preset === 'static') {
    for (const k of ['min', 'max', 'behavior', 'cooldown'] as const) {
      if (spec[k] !== undefined) throw new ConfigError(at(k), spec[k], 'absent with preset "static"');
    }
    observer.started?.({ preset, interval, min: 0, max: 0, scaleUpWindow: 0, scaleDownWindow: 0 });
    return stage('autoscale:static', 1);
  }

  const sampler = (): void => {
    meter.sample(sampleEvery);
    clock.setTimer(sampler, sampleEvery);
  };
  clock.setTimer(sampler, 0);
  const collector: Collector = { name: 'sim', collect: () => meter.read(clock.now()) };
  const down = context.downstream;
  const actuator: Actuator = {
    name: 'downstream',
    capacity: () => ({ desired: down.desired, ready: down.replicas }),
    scale: (n: number) => down.scale(n),
  };
  let policies: ScalingPolicy[];
  let behavior: Behavior;
  if (preset === 'hpa') {
    policies = [hpaBaseline({ signal, target, tolerance })];
    behavior = structuredClone(hpaDefaults.behavior) as Behavior; // a thawed copy: construct() watches it
  } else {
    policies = sluicePolicies(signal, target, utilisation, tolerance, readiness, forecast);
    behavior = sluiceBehavior();
  }
  const options: Record<string, unknown> = {
    name: preset,
    clock,
    collectors: [collector],
    policies,
    actuator,
    interval,
    min: spec['min'] ?? 1,
    max: spec['max'] ?? 100,
    behavior: spec['behavior'] ?? behavior,
    warmup,
    horizon: readiness,
    records: 1,
  };
  if (spec['cooldown'] !== undefined) options['cooldown'] = spec['cooldown'];
  const autoscaler = construct(path, options, (o) => createAutoscaler(o as unknown as AutoscalerOptions));
  const resolved = resolveBehavior((spec['behavior'] ?? behavior) as Behavior);
  observer.started?.({
    preset,
    interval,
    min: options['min'] as number,
    max: options['max'] as number,
    scaleUpWindow: resolved.scaleUp.stabilizationWindowMs,
    scaleDownWindow: resolved.scaleDown.stabilizationWindowMs,
  });

  let ticking = false;
  const decided = (d: AutoscaleDecision): void => {
    ticking = false;
    const from = d.capacity.desired;
    const direction = !d.changed ? 'hold' : d.replicas > from ? 'up' : 'down';
    observer.decision?.({
      seq: d.seq,
      at: d.at,
      from,
      proposed: d.proposed,
      to: d.replicas,
      ready: d.capacity.ready,
      direction,
      rule: d.rule,
      clamps: d.clamps.map((c) => `${c.guard} ${c.from}→${c.to}`),
      summary: d.summary,
      deliveredAt: clock.now(),
    });
  };
  const failed = (error: unknown): void => {
    throw error; // a tick rejects only on a bug in the controller: fail the run
  };
  // While a tick is in flight, one delivery per microtask turn keeps the engine from moving on. Bounded: a
  // tick waiting for a timer could never settle while time stands still; it then settles at a later event.
  let turns = 0;
  const keepAlive = (): void => {
    if (ticking && ++turns <= MAX_TURNS) context.track(Promise.resolve(), keepAlive, failed);
  };
  const tick = (): void => {
    clock.setTimer(tick, interval);
    if (ticking) return; // the previous tick is still in flight: skip this one
    ticking = true;
    turns = 0;
    context.track(autoscaler.tick(), decided, failed);
    keepAlive();
  };
  clock.setTimer(tick, interval);
  return stage(`autoscale:${preset}`, SETTLE_ROUNDS);
}

/**
 * What the stage measures between two ticks. Sampled gauges (utilisation, concurrency, busy server-time)
 * come from a timer every `sampleEvery` ms; counts (arrivals, completions, latencies) from the stage's own
 * offer and settle calls. `read()` returns the readings of the interval since the previous `read()` and
 * starts the next one.
 */
class Meter {
  readonly #down: DownstreamControl;
  readonly #latency = new LatencyHistogram();
  // Arrivals per second of the panic window: a ring of one-second slots, stamped with their second.
  readonly #slots: Float64Array;
  readonly #stamps: Float64Array;
  readonly #burstWindow: number;
  #since = 0;
  #arrivals = 0;
  #completions = 0;
  #inflight = 0;
  #utilSum = 0;
  #concSum = 0;
  #samples = 0;
  #busyTime = 0;
  /** Mean service time (ms) from the latest interval that had completions. */
  #serviceTime = Number.NaN;
  /** Servers per replica, from the latest sample with a ready replica. */
  #perReplica = Number.NaN;

  constructor(down: DownstreamControl, burstWindow: number) {
    this.#down = down;
    this.#burstWindow = burstWindow;
    const n = Math.ceil(burstWindow / 1000) + 1;
    this.#slots = new Float64Array(n);
    this.#stamps = new Float64Array(n).fill(-1);
  }

  arrived(now: number): void {
    this.#arrivals++;
    this.#inflight++;
    const second = Math.floor(now / 1000);
    const i = second % this.#slots.length;
    if (this.#stamps[i] !== second) {
      this.#stamps[i] = second;
      this.#slots[i] = 0;
    }
    this.#slots[i]!++;
  }

  settled(settlement: string, rtt: number): void {
    this.#inflight--;
    if (settlement === 'success') {
      this.#completions++;
      this.#latency.record(rtt);
    } else if (settlement === 'error') {
      this.#completions++;
    }
  }

  sample(dt: number): void {
    const d = this.#down;
    const capacity = d.capacity;
    const busy = d.busy;
    this.#busyTime += busy * dt;
    if (d.replicas > 0 && capacity > 0 && capacity !== Number.POSITIVE_INFINITY) {
      this.#perReplica = capacity / d.replicas;
      this.#utilSum += Math.min(1, busy / capacity);
      this.#concSum += (busy + d.queued) / d.replicas;
      this.#samples++;
    }
  }

  read(now: number): Readings {
    const seconds = (now - this.#since) / 1000;
    const readings: Record<string, number> = {
      queue: this.#down.queued,
      inflight: this.#inflight,
    };
    if (seconds > 0) readings['rps'] = this.#arrivals / seconds;
    if (this.#samples > 0) {
      readings['utilisation'] = this.#utilSum / this.#samples;
      readings['concurrency'] = this.#concSum / this.#samples;
    }
    if (this.#latency.count > 0) readings['p99'] = this.#latency.percentile(0.99);
    if (this.#completions > 0) this.#serviceTime = this.#busyTime / this.#completions;
    if (Number.isFinite(this.#serviceTime)) readings['serviceTime'] = this.#serviceTime;
    const perReplica = this.#perReplica;
    if (seconds > 0 && Number.isFinite(this.#serviceTime) && perReplica > 0) {
      const work = this.#serviceTime / 1000 / perReplica; // replica-seconds per request
      readings['demand'] = (this.#arrivals / seconds) * work;
      readings['burstDemand'] = this.#recentRate(now) * work;
    }
    this.#since = now;
    this.#arrivals = 0;
    this.#completions = 0;
    this.#utilSum = 0;
    this.#concSum = 0;
    this.#samples = 0;
    this.#busyTime = 0;
    this.#latency.reset();
    return readings;
  }

  /** Arrivals per second over the whole seconds of the panic window before `now`. */
  #recentRate(now: number): number {
    const current = Math.floor(now / 1000);
    const seconds = Math.max(1, Math.floor(this.#burstWindow / 1000));
    let sum = 0;
    for (let s = current - seconds; s < current; s++) {
      const i = ((s % this.#slots.length) + this.#slots.length) % this.#slots.length;
      if (this.#stamps[i] === s) sum += this.#slots[i]!;
    }
    return sum / seconds;
  }
}
