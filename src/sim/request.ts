import type { AttemptEnd } from './policy.ts';

/** How the downstream answered a request. */
export type Response =
  /** Done. */
  | 'success'
  /** Failed for a reason unrelated to load (a 500, a bug): no latency lesson for a limit. */
  | 'error'
  /** Refused or failed under load (a 503 or 429, a full queue, an outage): an overload signal. */
  | 'overload';

/** How an attempt ended for its caller: the downstream's response, or a timeout. */
export type Answer = Response | 'timeout';

/** One attempt of a client request, as policies and downstream models see it. Times in ms. */
export interface SimRequest {
  /** Sequence number of the attempt, unique in the run. */
  readonly id: number;
  /** Index of the workload source that sent it. */
  readonly source: number;
  /** 0 for the first try, then 1, 2, ... for retries. */
  readonly attempt: number;
  /** When this attempt arrived. */
  readonly arrivedAt: number;
  /** When the first attempt of the same client request arrived. */
  readonly firstArrivedAt: number;
  /** Priority (criticality name or level index); undefined for the policy's default. */
  readonly priority: string | number | undefined;
  /** Cost in permits. */
  readonly weight: number;
  /** Fairness key (tenant), if any. */
  readonly key: string | undefined;
  /** Limiter partition, if any. */
  readonly partition: string | undefined;
  /** When the client gives up (absolute), or Infinity. */
  readonly deadline: number;
  /** Intrinsic service demand: the service time on an unloaded, healthy downstream. */
  readonly work: number;
  /** An outcome the downstream must give (from a replayed trace), if any. */
  readonly forced: Response | undefined;
}

/** @internal the simulator's mutable record of an attempt. */
export class Attempt implements SimRequest {
  readonly id: number;
  readonly source: number;
  readonly attempt: number;
  readonly arrivedAt: number;
  readonly firstArrivedAt: number;
  readonly priority: string | number | undefined;
  readonly weight: number;
  readonly key: string | undefined;
  readonly partition: string | undefined;
  readonly deadline: number;
  readonly work: number;
  readonly forced: Response | undefined;

  /**
   * The client's call this attempt belongs to: 0 for its first, 1 for its first retry (the workload's
   * `retry`), ... A policy that retries inside a call sends attempts of the same call.
   */
  call = 0;
  /** Token the policy gave at admission, handed back when it is settled. */
  token: unknown = undefined;
  admittedAt = Number.NaN;
  startedAt = Number.NaN;
  /** True once the caller has its answer (or has given up); later responses are "late". */
  answered = false;
  /** True once the policy has been told how the attempt ended. */
  settled = false;
  /** True once the downstream has received it. */
  submitted = false;
  /** Set while a policy holds the call (`PolicyContext.hold`): hears the attempt's end instead of the client. */
  onEnd: ((end: AttemptEnd) => void) | undefined = undefined;
  /** How the attempt ended for its caller, once it has. */
  end: Answer | 'shed' | undefined = undefined;
  /** The retry-after hint that came with `end` (ms, or NaN). */
  retryAfterMs = Number.NaN;
  /** True once its end has been acted on: the call concluded with it, or went on with a retry. */
  concluded = false;

  constructor(
    id: number,
    source: number,
    attempt: number,
    arrivedAt: number,
    firstArrivedAt: number,
    priority: string | number | undefined,
    weight: number,
    key: string | undefined,
    partition: string | undefined,
    deadline: number,
    work: number,
    forced: Response | undefined,
  ) {
    this.id = id;
    this.source = source;
    this.attempt = attempt;
    this.arrivedAt = arrivedAt;
    this.firstArrivedAt = firstArrivedAt;
    this.priority = priority;
    this.weight = weight;
    this.key = key;
    this.partition = partition;
    this.deadline = deadline;
    this.work = work;
    this.forced = forced;
  }
}
