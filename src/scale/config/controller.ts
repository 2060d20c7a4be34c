import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { array, join, text } from '../../core/spec.ts';
import {
  type Autoscaler,
  type AutoscalerLogger,
  type AutoscalerOptions,
  createAutoscaler,
} from '../controller.ts';
import type { CostOptions } from '../cost.ts';
import type { Behavior, Cooldown } from '../guards.ts';
import type { RollbackOptions } from '../rollback.ts';
import type { Actuator, Collector, ScaleMode } from '../types.ts';
import { optionalTime, time } from './durations.ts';
import { relocated } from './errors.ts';
import { defined, mapping, type Out, put } from './fields.ts';
import { policyOf, readPolicies } from './policies.ts';
import type { AutoscaleConfig } from './types.ts';

/** The controller's own sections (cooldown, behavior, cost, rollback, analyser, shadow), and its options. */

/** The controller's option names that the file spells without their `Ms` suffix. */
const controllerNames = new Map([
  ['stabilizationWindowMs', 'stabilizationWindow'],
  ['periodMs', 'period'],
  ['windowMs', 'window'],
  ['holdMs', 'hold'],
]);

export function readCooldown(value: unknown): Cooldown {
  const c = mapping('cooldown', value, ['up', 'down'], 'a mapping { up, down } of times');
  const cooldown: Out = {};
  put(cooldown, 'up', optionalTime('cooldown.up', c['up']));
  put(cooldown, 'down', optionalTime('cooldown.down', c['down']));
  return cooldown as Cooldown;
}

export function readBehavior(path: string, value: unknown): Behavior | undefined {
  if (value === undefined) return undefined;
  const b = mapping(path, value, ['scaleUp', 'scaleDown'], 'a mapping { scaleUp, scaleDown }');
  const out: Out = {};
  for (const direction of ['scaleUp', 'scaleDown']) {
    const at = join(path, direction);
    if (b[direction] === undefined) continue;
    const r = mapping(
      at,
      b[direction],
      ['stabilizationWindow', 'policies', 'selectPolicy'],
      'a mapping { stabilizationWindow, policies, selectPolicy }',
    );
    const rules: Out = {};
    put(
      rules,
      'stabilizationWindowMs',
      optionalTime(join(at, 'stabilizationWindow'), r['stabilizationWindow']),
    );
    if (r['policies'] !== undefined) {
      rules['policies'] = array(join(at, 'policies'), r['policies'], 'a list of { type, value, period }').map(
        (p, i) => {
          const ap = `${at}.policies[${i}]`;
          const policy = mapping(ap, p, ['type', 'value', 'period'], 'a rate policy { type, value, period }');
          if (policy['period'] === undefined)
            throw new ConfigError(join(ap, 'period'), undefined, 'a time > 0');
          const rate: Out = { type: policy['type'], value: policy['value'] };
          rate['periodMs'] = time(join(ap, 'period'), policy['period']);
          return rate;
        },
      );
    }
    put(rules, 'selectPolicy', r['selectPolicy']);
    out[direction] = rules;
  }
  return out as Behavior;
}

export function readCost(value: unknown): CostOptions {
  const c = mapping('cost', value, ['pricePerReplicaHour', 'maxSpendPerHour', 'preemptible']);
  const out: Out = { pricePerReplicaHour: c['pricePerReplicaHour'], maxSpendPerHour: c['maxSpendPerHour'] };
  if (c['preemptible'] !== undefined) {
    out['preemptible'] = {
      ...mapping('cost.preemptible', c['preemptible'], ['share', 'pricePerReplicaHour']),
    };
  }
  return out as unknown as CostOptions;
}

export function readRollback(value: unknown): RollbackOptions {
  const r = mapping('rollback', value, ['window', 'threshold', 'hold', 'watch', 'signal', 'worse']);
  if (r['window'] === undefined) {
    throw new ConfigError('rollback.window', undefined, 'how long a step is watched, a time > 0');
  }
  const out: Out = { windowMs: time('rollback.window', r['window']) };
  put(out, 'threshold', r['threshold']);
  put(out, 'holdMs', optionalTime('rollback.hold', r['hold']));
  put(out, 'watch', r['watch']);
  if (r['signal'] !== undefined) out['signal'] = text('rollback.signal', r['signal']);
  put(out, 'worse', r['worse']);
  return out as unknown as RollbackOptions;
}

export function readAnalyser(value: unknown): AutoscaleConfig['analyser'] {
  const a = mapping('analyser', value, ['halfLife', 'levelHalfLife', 'trendHalfLife', 'accuracyWindow']);
  const analyser: Out = {};
  for (const key of ['halfLife', 'levelHalfLife', 'trendHalfLife']) {
    put(analyser, key, optionalTime(`analyser.${key}`, a[key]));
  }
  put(analyser, 'accuracyWindow', a['accuracyWindow']);
  return analyser;
}

export function readShadow(value: unknown): AutoscaleConfig['shadow'] {
  const s = mapping('shadow', value, ['policies', 'behavior'], 'a candidate { policies, behavior? }');
  const shadow: Out = { policies: readPolicies('shadow.policies', s['policies']) };
  put(shadow, 'behavior', readBehavior('shadow.behavior', s['behavior']));
  return shadow as AutoscaleConfig['shadow'];
}

/** The options of `createAutoscaler` for `config` with these parts, checked by making the controller. */
export function controllerOptions(
  config: AutoscaleConfig,
  parts: {
    readonly collectors: readonly Collector[];
    readonly actuator: Actuator;
    readonly clock?: Clock | undefined;
    readonly mode?: ScaleMode | undefined;
    readonly logger?: AutoscalerLogger | undefined;
  },
): { options: AutoscalerOptions; autoscaler: Autoscaler } {
  const { collectors: _c, policies: _p, actuator: _a, shadow, rollback, ...rest } = config;
  const options: AutoscalerOptions = {
    ...rest,
    collectors: parts.collectors,
    policies: config.policies.map((p, i) => policyOf(p, `policies[${i}]`)),
    actuator: parts.actuator,
    ...defined({ mode: parts.mode, clock: parts.clock, logger: parts.logger, rollback }),
    ...(shadow === undefined
      ? {}
      : {
          shadow: {
            policies: shadow.policies.map((p, i) => policyOf(p, `shadow.policies[${i}]`)),
            ...defined({ behavior: shadow.behavior }),
          },
        }),
  };
  const autoscaler = relocated('', { rename: controllerNames, horizon: true }, () =>
    createAutoscaler(options),
  );
  return { options, autoscaler };
}
