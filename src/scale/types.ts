/**
 * The contracts of the autoscaler (`sluice/scale`), one per stage of the slow loop:
 *
 *   Collector ──▶ analysers (Signal) ──▶ ScalingPolicy + guards ──▶ Actuator
 *   readings      smoothed, trend,        a replica count and         applies it
 *                 forecast                the rule that chose it
 *
 * Each stage knows nothing of the others' internals. A collector gathers numbers; the controller turns
 * them into signals, asks each policy for a proposal, bounds the largest with its guards, records the
 * whole decision, and hands the result to the actuator (unless in dry-run or shadow mode).
 */

/** Named readings from one collector on one tick, each in its own unit (e.g. `{ backlog: 1200 }`). */
export type Readings = Readonly<Record<string, number>>;

/**
 * Gathers readings. It may call the network; the controller aborts `signal` when the tick's collection
 * deadline passes. A collector that throws or times out is recorded in the decision, and its signals keep
 * their last values (their `age` grows) while the other collectors go on.
 */
export interface Collector {
  /** Names the collector in records, e.g. `"prometheus"` or `"rabbitmq:orders"`. */
  readonly name: string;
  collect(signal: AbortSignal): Readings | Promise<Readings>;
}

/** The capacity an actuator reports. */
export interface Capacity {
  /** Replicas asked for: serving plus starting. */
  readonly desired: number;
  /** Replicas ready to serve. */
  readonly ready: number;
}

/** Applies a replica count: a worker pool, local processes, a Kubernetes Deployment, a command. */
export interface Actuator {
  readonly name: string;
  /** The capacity now. */
  capacity(signal: AbortSignal): Capacity | Promise<Capacity>;
  /** Asks for `replicas`. Resolves once the request is accepted, not once the capacity is ready. */
  scale(replicas: number, signal: AbortSignal): void | Promise<void>;
  /** Releases what the actuator holds (connections, workers it owns). Optional. */
  close?(): void | Promise<void>;
}

/** One analysed signal: the latest reading with its smoothing, trend and forecast. */
export interface Signal {
  /** Latest reading. */
  readonly value: number;
  /** Time-decayed average of the readings. */
  readonly smoothed: number;
  /** Trend in units per second (Holt linear smoothing); 0 until two readings. */
  readonly slope: number;
  /** Forecast at the controller's horizon (the readiness delay of new capacity). */
  readonly forecast: number;
  /** How well recent forecasts came true, in [0, 1]; 0 until one could be checked. */
  readonly accuracy: number;
  /** Milliseconds since the reading was taken (grows while its collector fails). */
  readonly age: number;
}

/** What a policy sees on one tick. */
export interface PolicyInput {
  /** Clock time of the tick (ms). */
  readonly now: number;
  /** Capacity as the actuator reported it this tick. */
  readonly capacity: Capacity;
  /**
   * Replicas counted in the signals: ready replicas out of warm-up. Per-replica ratios divide by this, so
   * capacity still starting is not taken for idle capacity.
   */
  readonly counted: number;
  /** Analysed signals by name (`"<reading>"`, or `"<collector>.<reading>"` where names collide). */
  readonly signals: ReadonlyMap<string, Signal>;
}

/** A policy's answer: the replica count it wants, the rule that produced it, and why, with the numbers. */
export interface Proposal {
  /** Replicas wanted (an integer >= 0). */
  readonly replicas: number;
  /** The rule that fired, e.g. `"target:latency"`, `"queue:backlog"`, `"burst"`, `"predictive"`. */
  readonly rule: string;
  /** One sentence with the numbers, e.g. `"p99 412 ms over target 200 ms: 4 x 2.06 = 9"`. */
  readonly reason: string;
}

/** Decides a replica count from signals. Returns `undefined` when it has no opinion (its signal is absent). */
export interface ScalingPolicy {
  readonly name: string;
  propose(input: PolicyInput): Proposal | undefined;
}

/** A bound a guard put on the proposed count. */
export interface Clamp {
  /** The guard, e.g. `"max"`, `"scaleDown.stabilization"`, `"scaleUp.rate"`, `"cooldown"`, `"budget"`. */
  readonly guard: string;
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** How the controller acts on its decisions. */
export type ScaleMode = 'live' | 'dry-run' | 'shadow';

/** Every decision, whether or not it changed anything: what was read, what was decided, and why. */
export interface Decision {
  /** 1, 2, 3, ... per controller. */
  readonly seq: number;
  /** Clock time of the tick (ms). */
  readonly at: number;
  readonly mode: ScaleMode;
  /** Raw readings by collector. */
  readonly readings: Readonly<Record<string, Readings>>;
  /** Collectors that failed this tick, with their errors' messages. */
  readonly failures: readonly { readonly collector: string; readonly message: string }[];
  /** Analysed signals by name. */
  readonly signals: Readonly<Record<string, Signal>>;
  readonly capacity: Capacity;
  /** Every policy's proposal. */
  readonly proposals: readonly Proposal[];
  /** The rule of the proposal that won (the largest), or `"hold"` when no policy had an opinion. */
  readonly rule: string;
  /** The winning count before guards. */
  readonly proposed: number;
  /** Guards that changed the count, in the order they applied. */
  readonly clamps: readonly Clamp[];
  /** The replica count decided. */
  readonly replicas: number;
  /** Whether `replicas` differs from `capacity.desired` (and, in live mode, was sent to the actuator). */
  readonly changed: boolean;
  /** One line: the rule, the numbers, the clamps, the result. */
  readonly summary: string;
}
