import { ConfigError } from '../../core/errors.ts';
import { fraction, oneOf, or } from '../../core/validate.ts';
import type { PolicyInput, Signal } from '../types.ts';

/** Whether a signal is a per-replica measure (utilisation, in-flight per replica, latency) or a fleet total. */
export type Per = 'replica' | 'total';

/** Which field of the signal a policy reads: the latest reading or its time-decayed average. */
export type Use = 'value' | 'smoothed';

/** Throws unless `options` is an object; `what` names the policy in the message. */
export function checkOptions(what: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(what, options, 'an options object');
  }
}

export function signalName(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(option, value, 'a signal name (a non-empty string)');
  }
  return value;
}

export function perOption(option: string, value: unknown): Per {
  return oneOf(option, or(value as Per | undefined, 'replica'), ['replica', 'total']);
}

export function useOption(option: string, value: unknown): Use {
  return oneOf(option, or(value as Use | undefined, 'value'), ['value', 'smoothed']);
}

/** A tolerance band around a ratio of 1, in [0, 1). */
export function toleranceOption(option: string, value: unknown, fallback = 0.1): number {
  const tolerance = fraction(option, or(value as number | undefined, fallback));
  if (tolerance === 1) throw new ConfigError(option, value, 'a number in [0, 1)');
  return tolerance;
}

export function nameOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/** The signal's `use` field if the signal is present and that field is finite; otherwise `undefined`. */
export function read(
  input: PolicyInput,
  name: string,
  use: Use,
): { signal: Signal; value: number } | undefined {
  const signal = input.signals.get(name);
  if (signal === undefined) return undefined;
  const value = use === 'smoothed' ? signal.smoothed : signal.value;
  return Number.isFinite(value) ? { signal, value } : undefined;
}

/** Float error must not add a replica: 6.000000000001 replicas is 6. */
const EPSILON = 1e-9;

/** The replicas that carry `need` (a real number of replicas' worth of load): rounded up, at least 0. */
export function replicasFor(need: number): number {
  return Math.max(0, Math.ceil(need - EPSILON));
}

/** A number for a reason: integers as they are, others to 3 significant digits (whole from 100 up). */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 100) return String(Math.round(n));
  return String(Number(n.toPrecision(3)));
}

/** `"1 replica"`, `"3 replicas"`. */
export function replicas(n: number): string {
  return n === 1 ? '1 replica' : `${n} replicas`;
}

/** The outcome of the proportional rule, with what a reason needs. */
export type Proportional =
  /** The usage ratio is within the tolerance band: hold `replicas` (the capacity asked for). */
  | { readonly kind: 'hold'; readonly replicas: number; readonly ratio: number }
  /** Scaling up, but the capacity already starting carries the load: hold `replicas`. */
  | { readonly kind: 'covered'; readonly replicas: number; readonly ratio: number; readonly starting: number }
  /** `replicas` carry the load. */
  | { readonly kind: 'scale'; readonly replicas: number; readonly ratio: number };

/**
 * The Kubernetes HPA's proportional rule on `need`, the replicas' worth of load measured over `counted`
 * ready replicas (`counted x metric / target`). The usage ratio is `need / counted`:
 *
 * - within `1 ± tolerance`, hold the replicas asked for (`desired`);
 * - scaling up while replicas are starting, count them as serving nothing (as the HPA counts unready pods
 *   at 0% usage): if `need` then fits `desired` within the tolerance, hold `desired` rather than propose
 *   less than what is already starting;
 * - otherwise `ceil(need)`.
 *
 * With nothing counted the ratio is infinite for any load (and the answer `ceil(need)`), 1 without load.
 */
export function proportional(
  need: number,
  counted: number,
  desired: number,
  tolerance: number,
): Proportional {
  const ratio = counted > 0 ? need / counted : need > 0 ? Number.POSITIVE_INFINITY : 1;
  if (Math.abs(ratio - 1) <= tolerance) return { kind: 'hold', replicas: desired, ratio };
  if (ratio > 1 && desired > counted && need <= desired * (1 + tolerance)) {
    return { kind: 'covered', replicas: desired, ratio, starting: desired - counted };
  }
  return { kind: 'scale', replicas: replicasFor(need), ratio };
}
