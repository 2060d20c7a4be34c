import { ConfigError } from '../../core/errors.ts';
import { finite, integer, or } from '../../core/validate.ts';
import type { PolicyInput, Proposal, ScalingPolicy } from '../types.ts';
import { checkOptions, fmt, nameOption, read, signalName, type Use, useOption } from './shared.ts';

/** A change of capacity: a number of replicas (`+2`, `-1`) or a percentage of the replicas asked for (`"+50%"`). */
export type StepChange = number | `${'+' | '-'}${number}%`;

/** One step: while the signal is in `[above, below)`, change the capacity by `change`. */
export interface Step {
  /** Lower bound, inclusive. Default: none (`-Infinity`). */
  readonly above?: number;
  /** Upper bound, exclusive. Default: none (`Infinity`). */
  readonly below?: number;
  /** Replicas to add (negative: remove), an integer, or a signed percentage of the replicas asked for, e.g. `"+50%"`, `"-25%"`. */
  readonly change: StepChange;
}

export interface StepScalingOptions {
  /** The signal the steps read. Required. */
  readonly signal: string;
  /** The steps, non-overlapping. A value no step holds gives no opinion (the alarm is not firing). Required. */
  readonly steps: readonly Step[];
  /**
   * A percentage change moves at least this many replicas (AWS's `MinAdjustmentMagnitude`), an integer
   * >= 1. Default 1.
   */
  readonly minChange?: number;
  /** Read the latest reading (`"value"`) or its time-decayed average (`"smoothed"`). Default `"value"`. */
  readonly use?: Use;
  /** The policy's name in records. Default `"step:<signal>"`. */
  readonly name?: string;
}

interface ParsedStep {
  readonly above: number;
  readonly below: number;
  /** Replicas, or a fraction of the replicas asked for when `percent`. */
  readonly amount: number;
  readonly percent: boolean;
  readonly text: string;
}

const PERCENT = /^([+-])(\d+(?:\.\d+)?)%$/;

/**
 * Step scaling, after AWS's step adjustments: the step whose interval holds the signal changes the
 * capacity asked for (`input.capacity.desired`) by a fixed number of replicas or a percentage of it. A
 * percentage is truncated towards zero but moves at least `minChange` replicas (so +10% of 4 adds 1, not
 * 0.4). The result is never below 0; min/max and cooldowns are the controller's guards.
 */
export function stepScaling(options: StepScalingOptions): ScalingPolicy {
  checkOptions('stepScaling', options);
  const signal = signalName('stepScaling.signal', options.signal);
  const steps = parseSteps(options.steps);
  const minChange = integer('stepScaling.minChange', or(options.minChange, 1), 1);
  const use = useOption('stepScaling.use', options.use);
  const rule = `step:${signal}`;
  const name = nameOption('stepScaling.name', options.name, rule);
  const label = use === 'smoothed' ? `${signal} (smoothed)` : signal;

  return {
    name,
    propose(input: PolicyInput): Proposal | undefined {
      const reading = read(input, signal, use);
      if (reading === undefined) return undefined;
      const v = reading.value;
      const step = steps.find((s) => v >= s.above && v < s.below);
      if (step === undefined) return undefined;
      const current = input.capacity.desired;
      let change = step.amount;
      if (step.percent) {
        const exact = current * step.amount;
        change = exact === 0 ? 0 : Math.sign(exact) * Math.max(minChange, Math.trunc(Math.abs(exact)));
      }
      const replicas = Math.max(0, current + change);
      const where = interval(step);
      const delta = `${change >= 0 ? '+' : ''}${change}`;
      const how = step.percent ? `${step.text} of ${current} is ${delta}` : delta;
      return { replicas, rule, reason: `${label} ${fmt(v)} in ${where}: ${how}, ${current} -> ${replicas}` };
    },
  };
}

function parseSteps(value: unknown): ParsedStep[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError('stepScaling.steps', value, 'a non-empty array of { above?, below?, change }');
  }
  const steps = value.map((raw: unknown, i): ParsedStep => {
    const path = `stepScaling.steps[${i}]`;
    if (typeof raw !== 'object' || raw === null)
      throw new ConfigError(path, raw, 'an object { above?, below?, change }');
    const s = raw as Step;
    const above = s.above === undefined ? Number.NEGATIVE_INFINITY : finite(`${path}.above`, s.above);
    const below = s.below === undefined ? Number.POSITIVE_INFINITY : finite(`${path}.below`, s.below);
    if (!(above < below)) throw new ConfigError(`${path}.above`, above, `< below (${below})`);
    const change: unknown = s.change;
    if (typeof change === 'number') {
      integer(`${path}.change`, change);
      return { above, below, amount: change, percent: false, text: String(change) };
    }
    const m = typeof change === 'string' ? PERCENT.exec(change) : null;
    if (m === null) {
      throw new ConfigError(
        `${path}.change`,
        change,
        'an integer or a signed percentage such as "+50%" or "-25%"',
      );
    }
    const amount = ((m[1] === '-' ? -1 : 1) * Number(m[2])) / 100;
    if (amount < -1) throw new ConfigError(`${path}.change`, change, 'a percentage >= -100%');
    return { above, below, amount, percent: true, text: change as string };
  });
  const sorted = [...steps].sort((a, b) => a.above - b.above);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const next = sorted[i]!;
    if (next.above < prev.below) {
      const j = steps.indexOf(next);
      throw new ConfigError(
        `stepScaling.steps[${j}]`,
        value[j],
        `a step not overlapping another (it overlaps ${interval(prev)})`,
      );
    }
  }
  return sorted;
}

function interval(s: ParsedStep): string {
  const lo = s.above === Number.NEGATIVE_INFINITY ? '-inf' : fmt(s.above);
  const hi = s.below === Number.POSITIVE_INFINITY ? 'inf' : fmt(s.below);
  return `[${lo}, ${hi})`;
}
