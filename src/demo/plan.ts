import { ConfigError } from '../core/errors.ts';
import { finite, integer, positive } from '../core/validate.ts';
import { type Distribution, distribution, Random } from '../sim/random.ts';

/**
 * What the demo's two runs share, fixed before either starts: the downstream's service times and how its
 * speed changes, the arrival schedule, and the objectives. Both runs replay the same plan, so the only
 * difference between them is the gateway (and the autoscaler behind it).
 */

/** A stretch of a run during which the downstream works at one speed. */
export interface DemoPhase {
  /** `"steady"`, `"drop"` or `"recovery"`. */
  readonly name: string;
  /** Start, in ms from the start of the run. */
  readonly from: number;
  /** End, in ms from the start of the run. */
  readonly to: number;
  /** Per-task speed of the downstream: service times are divided by it (1/3 is three times slower). */
  readonly speed: number;
  /** What happens, for the terminal: `"the downstream slows to 1/3 speed"`. */
  readonly says: string;
}

/** A stretch of a run with more arrivals. */
export interface DemoBurst {
  readonly from: number;
  readonly to: number;
}

export interface DemoPlanOptions {
  /** Length of one run (ms). Required, >= 1000. */
  readonly duration: number;
  /** Seed of the arrival schedule and of the service times. Default 1. */
  readonly seed?: number;
  /** Workers of the downstream at the start (and for the whole run without sluice). Default 4. */
  readonly workers?: number;
  /** Most workers the autoscaler may give the downstream. Default 16. */
  readonly maxWorkers?: number;
  /** Fewest workers the autoscaler may leave. Default 2. */
  readonly minWorkers?: number;
  /** Offered load between bursts, as a multiple of the starting capacity. Default 0.75. */
  readonly load?: number;
  /** Offered load during bursts, as a multiple of the starting capacity. Default 1.8. */
  readonly burstLoad?: number;
  /** Latency objective of a good answer (ms). Default 300. */
  readonly slo?: number;
  /** Clients give up after this long (ms), and say so in `x-request-timeout`. Default 1000. */
  readonly timeout?: number;
}

/** The plan of both runs. Times are in ms from the start of a run. */
export interface DemoPlan {
  readonly seed: number;
  readonly duration: number;
  /** Service time of one task at full speed (ms). */
  readonly service: Distribution;
  /** Its spec, for the report. */
  readonly serviceSpec: { readonly type: 'lognormal'; readonly median: number; readonly p99: number };
  readonly workers: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  /** Requests per second the starting workers serve at full speed. */
  readonly capacity: number;
  /** Arrivals per second between and during bursts. */
  readonly rate: number;
  readonly burstRate: number;
  readonly phases: readonly DemoPhase[];
  readonly bursts: readonly DemoBurst[];
  /** When each request is sent, ascending. */
  readonly arrivals: Float64Array;
  readonly slo: number;
  readonly timeout: number;
  /** The downstream's queue in front of its workers; a full queue answers 503. */
  readonly queue: number;
}

const SERVICE = { type: 'lognormal', median: 20, p99: 60 } as const;

/**
 * The speed of the downstream over a run, as shares of its length: steady at full speed, a sharp drop to a
 * third (a slow dependency, a noisy neighbour, a bad deploy), then recovery to more than it had.
 */
const PHASES = [
  { name: 'steady', from: 0, speed: 1, says: 'the downstream runs at full speed' },
  { name: 'drop', from: 0.3, speed: 1 / 3, says: 'the downstream slows to 1/3 speed' },
  { name: 'recovery', from: 0.6, speed: 1.25, says: 'the downstream recovers, to 1.25x its first speed' },
] as const;

/** Bursts, as shares of the run: one in each phase. */
const BURSTS = [
  { from: 0.14, to: 0.22 },
  { from: 0.42, to: 0.5 },
  { from: 0.74, to: 0.82 },
] as const;

/** Builds the plan. Invalid options throw a `ConfigError`. */
export function demoPlan(options: DemoPlanOptions): DemoPlan {
  const duration = finite('duration', options.duration, 1000);
  const seed = finite('seed', options.seed ?? 1);
  const workers = integer('workers', options.workers ?? 4, 1);
  const minWorkers = integer('minWorkers', options.minWorkers ?? Math.min(2, workers), 1);
  if (minWorkers > workers)
    throw new ConfigError('minWorkers', minWorkers, `an integer <= workers (${workers})`);
  const maxWorkers = integer('maxWorkers', options.maxWorkers ?? Math.max(16, workers), workers);
  const load = positive('load', options.load ?? 0.75);
  const burstLoad = positive('burstLoad', options.burstLoad ?? 1.8);
  const slo = positive('slo', options.slo ?? 300);
  const timeout = positive('timeout', options.timeout ?? 1000);
  const service = distribution(SERVICE, 'service');
  const capacity = (workers * 1000) / service.mean;
  const rate = load * capacity;
  const burstRate = burstLoad * capacity;
  const phases = PHASES.map((p, i) => ({
    name: p.name,
    from: p.from * duration,
    to: (PHASES[i + 1]?.from ?? 1) * duration,
    speed: p.speed,
    says: p.says,
  }));
  const bursts = BURSTS.map((b) => ({ from: b.from * duration, to: b.to * duration }));
  return {
    seed,
    duration,
    service,
    serviceSpec: SERVICE,
    workers,
    minWorkers,
    maxWorkers,
    capacity,
    rate,
    burstRate,
    phases,
    bursts,
    arrivals: arrivalTimes(new Random(seed, 'demo/arrivals'), duration, rate, burstRate, bursts),
    slo,
    timeout,
    queue: 200,
  };
}

/**
 * Poisson arrivals at `rate`, and at `burstRate` within the bursts. The rate is piecewise constant, so
 * each stretch is a Poisson process of its own; a gap drawn across a boundary is redrawn from the boundary
 * at the new rate, which the memoryless exponential allows.
 */
function arrivalTimes(
  random: Random,
  duration: number,
  rate: number,
  burstRate: number,
  bursts: readonly DemoBurst[],
): Float64Array {
  const times: number[] = [];
  const edges = [0, ...bursts.flatMap((b) => [b.from, b.to]), duration];
  for (let i = 0; i + 1 < edges.length; i++) {
    const from = edges[i]!;
    const to = edges[i + 1]!;
    const gap = 1000 / (i % 2 === 1 ? burstRate : rate);
    for (let t = from + random.exponential(gap); t < to; t += random.exponential(gap)) times.push(t);
  }
  return Float64Array.from(times);
}

/** The phase at `t` ms into a run (the last one past the end). */
export function phaseAt(plan: DemoPlan, t: number): DemoPhase {
  for (const p of plan.phases) if (t < p.to) return p;
  return plan.phases[plan.phases.length - 1]!;
}

/** A speed as text: `"1/3"`, `"1.25x"`. */
export function speedText(speed: number): string {
  if (speed < 1) {
    const inverse = Math.round(1 / speed);
    if (Math.abs(1 / inverse - speed) < 1e-3) return `1/${inverse}`;
  }
  return `${Math.round(speed * 100) / 100}x`;
}
