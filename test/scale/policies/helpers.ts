import type { PolicyInput, Signal } from '../../../src/scale/types.ts';

/** A signal with `value`, and by default the same smoothed value and forecast, no trend, no accuracy. */
export function signal(value: number, fields: Partial<Signal> = {}): Signal {
  return { value, smoothed: value, slope: 0, forecast: value, accuracy: 0, age: 0, ...fields };
}

export interface InputOptions {
  /** Ready replicas out of warm-up. Default 4. */
  readonly counted?: number;
  /** Replicas asked for. Default `counted`. */
  readonly desired?: number;
  /** Replicas ready. Default `counted`. */
  readonly ready?: number;
  readonly now?: number;
}

/** A policy input from signals given as numbers (plain values) or whole signals. */
export function input(
  signals: Readonly<Record<string, number | Signal>>,
  options: InputOptions = {},
): PolicyInput {
  const counted = options.counted ?? 4;
  const map = new Map<string, Signal>();
  for (const [name, s] of Object.entries(signals)) map.set(name, typeof s === 'number' ? signal(s) : s);
  return {
    now: options.now ?? 0,
    capacity: { desired: options.desired ?? counted, ready: options.ready ?? counted },
    counted,
    signals: map,
  };
}
