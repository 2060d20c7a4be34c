import { resolve } from 'node:path';
import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { checkKeys, join, object, text } from '../../core/spec.ts';
import { integer, oneOf } from '../../core/validate.ts';
import { commandActuator } from '../actuators/command.ts';
import { type KubernetesActuatorOptions, kubernetesActuator } from '../actuators/kubernetes.ts';
import { processActuator } from '../actuators/process.ts';
import { webhookActuator } from '../actuators/webhook.ts';
import type { Actuator } from '../types.ts';
import { optionalTime, time } from './durations.ts';
import { relocated } from './errors.ts';
import { defined, mapping, type Out, put, strings } from './fields.ts';
import { standInApi } from './stand-ins.ts';
import type {
  ActuatorConfig,
  CommandActuatorConfig,
  KubernetesActuatorConfig,
  ProcessActuatorConfig,
  WebhookActuatorConfig,
} from './types.ts';

/** The `actuator:` section: read, checked, and made into the actuator. */

const actuatorKeys = {
  kubernetes: ['kind', 'name', 'namespace', 'kubeconfig', 'context', 'timeout', 'fieldManager'],
  command: ['command', 'replicas', 'timeout', 'env', 'cwd', 'name'],
  webhook: ['url', 'method', 'headers', 'capacityUrl', 'replicas', 'timeout', 'name'],
  process: [
    'command',
    'module',
    'args',
    'env',
    'cwd',
    'execArgv',
    'stdio',
    'readyWhen',
    'readyTimeout',
    'stopSignal',
    'stopTimeout',
    'stable',
    'restartBackoff',
    'replicas',
    'name',
  ],
} as const;
type ActuatorType = keyof typeof actuatorKeys;
export const actuatorTypes = Object.keys(actuatorKeys) as ActuatorType[];

/** File keys of the actuators that are times, with the library's names. */
const actuatorTimes = new Map([
  ['timeout', 'timeoutMs'],
  ['readyTimeout', 'readyTimeoutMs'],
  ['stopTimeout', 'stopTimeoutMs'],
  ['stable', 'stableMs'],
]);

/** The actuators' option names as the file spells them. */
const actuatorNames = new Map([
  ...[...actuatorTimes].map(([file, option]) => [option, file] as const),
  ['initialMs', 'initial'],
  ['maxMs', 'max'],
  ['modulePath', 'module'],
]);

/** Runs an actuator's factory, naming the options of its errors under `actuator`, as the file spells them. */
function asFile<T>(make: () => T): T {
  return relocated('actuator', { rename: actuatorNames }, make);
}

/** The actuator at `path`; relative paths (`kubeconfig`, `cwd`, `module`) are resolved against `dir`. */
export function readActuator(path: string, value: unknown, dir: string): ActuatorConfig {
  const raw = object(path, value, `an actuator: a mapping with a type (${actuatorTypes.join(', ')})`);
  const type = oneOf(join(path, 'type'), raw['type'], actuatorTypes);
  checkKeys(path, raw, ['type', ...actuatorKeys[type]]);
  const out: Out = { type };
  for (const key of actuatorKeys[type]) {
    const at = join(path, key);
    const v = raw[key];
    if (v === undefined) continue;
    const option = actuatorTimes.get(key);
    if (option !== undefined) out[option] = time(at, v);
    else if (key === 'kubeconfig' || key === 'cwd') out[key] = resolve(dir, text(at, v));
    else if (key === 'context') out[key] = text(at, v);
    else if (key === 'env') out[key] = strings(at, v);
    else if (key === 'module') out['modulePath'] = /^file:/.test(text(at, v)) ? v : resolve(dir, v as string);
    else if (key === 'restartBackoff') {
      const b = mapping(at, v, ['initial', 'max'], 'a mapping { initial, max } of times');
      const backoff: Out = {};
      put(backoff, 'initialMs', optionalTime(join(at, 'initial'), b['initial']));
      put(backoff, 'maxMs', optionalTime(join(at, 'max'), b['max']));
      out[key] = backoff;
    } else out[key] = v;
  }
  if (type === 'process' && (raw['command'] === undefined) === (raw['module'] === undefined)) {
    const both = raw['command'] !== undefined;
    throw new ConfigError(
      join(path, both ? 'module' : 'command'),
      both ? raw['module'] : undefined,
      both
        ? 'absent when "command" is given (give one of them)'
        : 'a program to run, or give "module" (a Node.js module to fork)',
    );
  }
  if (type === 'command' && raw['replicas'] === undefined) {
    throw new ConfigError(
      join(path, 'replicas'),
      undefined,
      'the replicas running now (an integer >= 0): a command actuator knows only the counts it applied',
    );
  }
  if (type === 'webhook' && raw['replicas'] === undefined && raw['capacityUrl'] === undefined) {
    throw new ConfigError(
      join(path, 'replicas'),
      undefined,
      'the replicas running now (an integer >= 0), or a "capacityUrl" to read the capacity from',
    );
  }
  return out as unknown as ActuatorConfig;
}

/** Makes the actuator with stand-ins where making it would act (a process actuator starts its children). */
export function validActuator(spec: ActuatorConfig): Actuator {
  switch (spec.type) {
    case 'kubernetes':
      return kubernetesOf(spec, { api: standInApi });
    case 'process': {
      const { type: _, replicas, ...options } = spec;
      const actuator = asFile(() => processActuator({ ...options, replicas: 0 }));
      void actuator.close();
      if (replicas !== undefined) integer('actuator.replicas', replicas, 0);
      return actuator;
    }
    default:
      return actuatorOf(spec, undefined);
  }
}

/** The Kubernetes actuator `spec` describes, over `client` (an API or a kubeconfig, and a clock). */
export function kubernetesOf(
  spec: KubernetesActuatorConfig,
  client: Pick<KubernetesActuatorOptions, 'api' | 'kubeConfig' | 'clock'>,
): Actuator {
  return asFile(() =>
    kubernetesActuator({
      kind: spec.kind,
      name: spec.name,
      ...defined({ namespace: spec.namespace, timeoutMs: spec.timeoutMs, fieldManager: spec.fieldManager }),
      ...client,
    }),
  );
}

/** The factories of the actuators that need no client library. */
const factories = { command: commandActuator, webhook: webhookActuator, process: processActuator };

/** The command, webhook or process actuator `spec` describes; errors named under `actuator`. */
export function actuatorOf(
  spec: CommandActuatorConfig | WebhookActuatorConfig | ProcessActuatorConfig,
  clock: Clock | undefined,
): Actuator {
  const { type, ...options } = spec;
  // `make` is the factory of `type`, and `options` are the options of that type.
  const make = factories[type] as (o: typeof options & { clock?: Clock }) => Actuator;
  return asFile(() => make({ ...options, ...defined({ clock }) }));
}
