import { isSluiceError, SluiceError } from '../../core/errors.ts';

/** The states of a circuit breaker. */
export type BreakerState =
  /** Calls flow; outcomes are recorded and the trip rules watch them. */
  | 'closed'
  /** Calls are rejected fast (bar the conservative trickle) until the open duration has passed. */
  | 'open'
  /** A bounded number of probe calls test the dependency; the rest are rejected fast. */
  | 'half-open'
  /** Held open by hand (`isolate()`) until every isolation handle is disposed or the breaker is reset. */
  | 'isolated';

export interface CircuitOpenDetails {
  /** Name of the breaker that refused the call. */
  readonly breaker: string;
  /** State of the breaker when it refused the call. */
  readonly state: BreakerState;
  /** Time until the breaker half-opens, in ms (0 when half-open; the base open duration when isolated). */
  readonly retryAfterMs: number;
}

/**
 * A circuit breaker refused a call: the work did not run. Deliberately not a `RejectedError`: the refusal is
 * about the health of a dependency, not about load, and `isRejectedError` is false for it (the error has no
 * `reason` field, which that guard reads).
 */
export class CircuitOpenError extends SluiceError {
  readonly code = 'SLUICE_CIRCUIT_OPEN';
  override readonly name = 'CircuitOpenError';
  readonly breaker: string;
  readonly state: BreakerState;
  readonly retryAfterMs: number;

  constructor(details: CircuitOpenDetails) {
    super(message(details));
    this.breaker = details.breaker;
    this.state = details.state;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** True for a `CircuitOpenError` from any copy of sluice. */
export function isCircuitOpenError(error: unknown): error is CircuitOpenError {
  return isSluiceError(error) && error.code === 'SLUICE_CIRCUIT_OPEN';
}

function message(d: CircuitOpenDetails): string {
  const retry = `; retry after ${Math.ceil(d.retryAfterMs)} ms`;
  switch (d.state) {
    case 'half-open':
      return `sluice: circuit "${d.breaker}" is half-open and its probes are all in flight${retry}`;
    case 'isolated':
      return `sluice: circuit "${d.breaker}" is isolated by hand${retry}`;
    default:
      return `sluice: circuit "${d.breaker}" is ${d.state}${retry}`;
  }
}
