import { ConfigError } from '../../core/errors.ts';
import { array, checkKeys, join, object } from '../../core/spec.ts';
import { oneOf } from '../../core/validate.ts';
import { burst } from '../policies/burst.ts';
import { hpaBaseline } from '../policies/hpa.ts';
import { predictive } from '../policies/predictive.ts';
import { queueBased } from '../policies/queue-based.ts';
import { stepScaling } from '../policies/step-scaling.ts';
import { targetTracking } from '../policies/target-tracking.ts';
import type { ScalingPolicy } from '../types.ts';
import { optionalTime } from './durations.ts';
import { relocated } from './errors.ts';
import { defined, type Out, put } from './fields.ts';
import type { PolicyConfig, ReactivePolicyConfig } from './types.ts';

/** The `policies:` sections: each entry read, and made into a policy (which checks its values). */

const policyKeys = {
  target: ['signal', 'target', 'per', 'tolerance', 'use', 'name'],
  hpa: ['signal', 'target', 'per', 'tolerance', 'use', 'name'],
  queue: [
    'backlog',
    'perReplica',
    'rate',
    'arrivals',
    'drainTime',
    'activation',
    'idle',
    'tolerance',
    'use',
    'name',
  ],
  step: ['signal', 'steps', 'minChange', 'use', 'name'],
  burst: ['signal', 'target', 'threshold', 'readiness', 'per', 'trend', 'use', 'name'],
  predictive: ['policy', 'horizon', 'name'],
} as const;
type PolicyType = keyof typeof policyKeys;
const policyTypes = Object.keys(policyKeys) as PolicyType[];
const policyTimes: ReadonlySet<string> = new Set(['drainTime', 'readiness', 'horizon']);

/** The factory of each policy type but `predictive`, and the prefix its errors name options under. */
const reactive = {
  target: { prefix: 'targetTracking', make: targetTracking },
  hpa: { prefix: 'hpaBaseline', make: hpaBaseline },
  queue: { prefix: 'queueBased', make: queueBased },
  step: { prefix: 'stepScaling', make: stepScaling },
  burst: { prefix: 'burst', make: burst },
} satisfies Record<
  ReactivePolicyConfig['type'],
  { readonly prefix: string; readonly make: (options: never) => ScalingPolicy }
>;

/** A non-empty list of policies at `path`, each checked by making it. */
export function readPolicies(path: string, value: unknown): PolicyConfig[] {
  if (value === undefined) {
    throw new ConfigError(
      path,
      undefined,
      `a non-empty list of policies, each with a type (${policyTypes.join(', ')})`,
    );
  }
  const list = array(path, value, 'a non-empty list of policies');
  if (list.length === 0) throw new ConfigError(path, value, 'a non-empty list of policies');
  return list.map((p, i) => {
    const at = `${path}[${i}]`;
    const spec = readPolicy(at, p, false);
    policyOf(spec, at); // the factory checks the values
    return spec;
  });
}

function readPolicy(path: string, value: unknown, inner: boolean): PolicyConfig {
  const types = inner ? policyTypes.filter((t) => t !== 'predictive') : policyTypes;
  const raw = object(path, value, `a policy: a mapping with a type (${types.join(', ')})`);
  const type = oneOf(join(path, 'type'), raw['type'], types);
  checkKeys(path, raw, ['type', ...policyKeys[type]]);
  const out: Out = { type };
  for (const key of policyKeys[type]) {
    if (key === 'policy') continue;
    put(out, key, policyTimes.has(key) ? optionalTime(join(path, key), raw[key]) : raw[key]);
  }
  if (type === 'predictive') {
    if (raw['policy'] === undefined) {
      throw new ConfigError(
        join(path, 'policy'),
        undefined,
        'the policy to run on forecasts (a mapping with a type)',
      );
    }
    out['policy'] = readPolicy(join(path, 'policy'), raw['policy'], true);
  }
  return out as unknown as PolicyConfig;
}

/** The policy `spec` describes; its factory's errors named under `path`. */
export function policyOf(spec: PolicyConfig, path: string): ScalingPolicy {
  if (spec.type === 'predictive') {
    const inner = policyOf(spec.policy, join(path, 'policy'));
    return relocated(path, { prefix: 'predictive' }, () =>
      predictive({ policy: inner, ...defined({ horizon: spec.horizon, name: spec.name }) }),
    );
  }
  const { type, ...options } = spec;
  const { prefix, make } = reactive[type];
  // `make` is the factory of `type`, and `options` are the options of that type.
  return relocated(path, { prefix }, () => (make as (o: typeof options) => ScalingPolicy)(options));
}
