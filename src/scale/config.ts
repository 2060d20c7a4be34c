import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { Clock } from '../core/clock.ts';
import { ConfigError, isConfigError, isSluiceError, SluiceError } from '../core/errors.ts';
import { FileError } from '../core/file-error.ts';
import { array, checkKeys, isPlainObject, join, object, text } from '../core/spec.ts';
import { integer, oneOf } from '../core/validate.ts';
import { type CommandActuatorOptions, commandActuator } from './actuators/command.ts';
import { type KubeConfigLike, type KubernetesKind, kubernetesActuator } from './actuators/kubernetes.ts';
import { type ProcessActuatorOptions, processActuator } from './actuators/process.ts';
import { type WebhookActuatorOptions, webhookActuator } from './actuators/webhook.ts';
import type { SignalAnalyserOptions } from './analyse.ts';
import { type CollectedJetStreamManager, natsCollector } from './collectors/nats.ts';
import {
  type PrometheusCollectorOptions,
  type PromqlCollectorOptions,
  prometheusCollector,
  promqlCollector,
} from './collectors/prometheus.ts';
import { type QueueCheckingChannel, rabbitmqCollector } from './collectors/rabbitmq.ts';
import { type RedisCaller, redisStreamCollector } from './collectors/redis-stream.ts';
import { sqlCollector } from './collectors/sql.ts';
import {
  type Autoscaler,
  type AutoscalerLogger,
  type AutoscalerOptions,
  createAutoscaler,
} from './controller.ts';
import type { CostOptions } from './cost.ts';
import type { Behavior, Cooldown } from './guards.ts';
import { type BurstOptions, burst } from './policies/burst.ts';
import { type HpaBaselineOptions, hpaBaseline } from './policies/hpa.ts';
import { predictive } from './policies/predictive.ts';
import { type QueueBasedOptions, queueBased } from './policies/queue-based.ts';
import { type StepScalingOptions, stepScaling } from './policies/step-scaling.ts';
import { type TargetTrackingOptions, targetTracking } from './policies/target-tracking.ts';
import type { RollbackOptions } from './rollback.ts';
import type { Actuator, Collector, ScaleMode, ScalingPolicy } from './types.ts';

/**
 * Autoscaler config files: the options of `createAutoscaler` written in YAML (or JSON, which YAML reads
 * too), with collectors, policies and the actuator described by a `type` and their options instead of
 * built in code. A file is validated as a whole when it is read, and every error names the file, the line
 * and the path of the bad value:
 *
 * ```text
 * sluice: autoscale.yaml:14:13: option "policies[1].target" must be a finite number > 0, got "x"
 * ```
 *
 * The file's keys are the library's option names, with two differences: times are milliseconds or a
 * string with a unit (`500ms`, `30s`, `5m`, `1h`, `1m30s`), and options the library names with an `Ms`
 * suffix drop it (`stabilizationWindow`, `period`, `timeout`, `window`). Relative paths (`kubeconfig`, a
 * process actuator's `module` and `cwd`) are relative to the file's directory. See
 * examples/autoscale.yaml for a commented example.
 *
 * Collectors that need a client library (`rabbitmq`: amqplib, `nats`: @nats-io/transport-node and
 * @nats-io/jetstream, `redis-stream`: ioredis, `sql`: pg) take a URL; the library is loaded when the
 * autoscaler is built (a missing one is a `MissingPackageError` naming it), and the connection is made on
 * the first collect and made again after it is lost, so a service that is down fails its collector's
 * readings (the controller records it and holds on stale data) without stopping the autoscaler.
 */

// --- The config, as data --------------------------------------------------------------------------------

/** Scrapes a Prometheus metrics endpoint (see `prometheusCollector`). */
export type PrometheusCollectorConfig = { readonly type: 'prometheus' } & Omit<
  PrometheusCollectorOptions,
  'clock'
>;

/** Runs PromQL queries against a Prometheus server (see `promqlCollector`). */
export type PromqlCollectorConfig = { readonly type: 'promql' } & PromqlCollectorOptions;

/** The backlog of RabbitMQ queues, over AMQP (see `rabbitmqCollector`); needs amqplib. */
export interface RabbitmqCollectorConfig {
  readonly type: 'rabbitmq';
  /** `amqp://user:password@host:5672/vhost` (or `amqps:`). */
  readonly url: string;
  readonly queues: string | readonly string[];
  readonly name?: string;
}

/** The backlog of a NATS JetStream consumer (see `natsCollector`); needs @nats-io/transport-node and @nats-io/jetstream. */
export interface NatsCollectorConfig {
  readonly type: 'nats';
  /** `nats://host:4222`, with `user:password@` or `token@` for credentials (`tls:` for TLS). */
  readonly url: string;
  readonly stream: string;
  readonly consumer: string;
  readonly oldestAge?: boolean;
  readonly name?: string;
}

/** The backlog of a Redis Streams consumer group (see `redisStreamCollector`); needs ioredis. */
export interface RedisStreamCollectorConfig {
  readonly type: 'redis-stream';
  /** `redis://user:password@host:6379/0` (or `rediss:`). */
  readonly url: string;
  readonly stream: string;
  readonly group: string;
  readonly oldestAge?: boolean;
  readonly name?: string;
}

/**
 * A backlog counted by a SQL query in PostgreSQL (see `sqlCollector`); needs pg. The query runs with a
 * `statement_timeout` of the collection deadline, so a query the controller gave up on is also cancelled
 * in the database.
 */
export interface SqlCollectorConfig {
  readonly type: 'sql';
  /** `postgres://user:password@host:5432/database`. */
  readonly url: string;
  readonly sql: string;
  readonly params?: readonly unknown[];
  readonly name?: string;
}

export type CollectorConfig =
  | PrometheusCollectorConfig
  | PromqlCollectorConfig
  | RabbitmqCollectorConfig
  | NatsCollectorConfig
  | RedisStreamCollectorConfig
  | SqlCollectorConfig;

/** A policy other than `predictive`, which may wrap one of these. */
export type ReactivePolicyConfig =
  | ({ readonly type: 'target' } & TargetTrackingOptions)
  | ({ readonly type: 'hpa' } & HpaBaselineOptions)
  | ({ readonly type: 'queue' } & QueueBasedOptions)
  | ({ readonly type: 'step' } & StepScalingOptions)
  | ({ readonly type: 'burst' } & BurstOptions);

/** `predictive` over an inner policy (see `predictive`). */
export interface PredictivePolicyConfig {
  readonly type: 'predictive';
  readonly policy: ReactivePolicyConfig;
  readonly horizon?: number;
  readonly name?: string;
}

/**
 * A policy by type: `target` (targetTracking), `hpa` (hpaBaseline), `queue` (queueBased), `step`
 * (stepScaling), `burst` and `predictive`.
 */
export type PolicyConfig = ReactivePolicyConfig | PredictivePolicyConfig;

/** A Deployment or StatefulSet through its scale subresource (see `kubernetesActuator`); needs @kubernetes/client-node. */
export interface KubernetesActuatorConfig {
  readonly type: 'kubernetes';
  readonly kind: KubernetesKind;
  readonly name: string;
  readonly namespace?: string;
  /** A kubeconfig file (an absolute path once parsed). Default: `$KUBECONFIG`, `~/.kube/config`, then in-cluster. */
  readonly kubeconfig?: string;
  /** The kubeconfig context to use. Default its current context. */
  readonly context?: string;
  readonly timeoutMs?: number;
  readonly fieldManager?: string;
}

export type CommandActuatorConfig = { readonly type: 'command' } & Omit<
  CommandActuatorOptions,
  'capacity' | 'clock'
>;

export type WebhookActuatorConfig = { readonly type: 'webhook' } & Omit<
  WebhookActuatorOptions,
  'capacity' | 'fetch' | 'clock'
>;

/** Local child processes (see `processActuator`); they are stopped when the autoscaler is closed. */
export type ProcessActuatorConfig = { readonly type: 'process' } & Omit<ProcessActuatorOptions, 'clock'>;

export type ActuatorConfig =
  | KubernetesActuatorConfig
  | CommandActuatorConfig
  | WebhookActuatorConfig
  | ProcessActuatorConfig;

/**
 * A validated autoscaler config: `AutoscalerOptions` with collectors, policies and the actuator as data,
 * times in milliseconds and relative paths resolved.
 */
export interface AutoscaleConfig
  extends Omit<
    AutoscalerOptions,
    | 'collectors'
    | 'policies'
    | 'actuator'
    | 'clock'
    | 'shadow'
    | 'rollback'
    | 'analyser'
    | 'logger'
    | 'records'
  > {
  readonly collectors: readonly CollectorConfig[];
  readonly policies: readonly PolicyConfig[];
  readonly actuator: ActuatorConfig;
  readonly shadow?: { readonly policies: readonly PolicyConfig[]; readonly behavior?: Behavior };
  readonly rollback?: RollbackOptions & { readonly signal?: string };
  readonly analyser?: Omit<SignalAnalyserOptions, 'horizon'>;
}

// --- Errors -------------------------------------------------------------------------------------------

/** An autoscaler config file that cannot be read, parsed or validated; the message names file, line and path. */
export class AutoscaleConfigError extends FileError {
  readonly code = 'SLUICE_AUTOSCALE_CONFIG';
  override readonly name = 'AutoscaleConfigError';
}

export function isAutoscaleConfigError(error: unknown): error is AutoscaleConfigError {
  return isSluiceError(error) && error.code === 'SLUICE_AUTOSCALE_CONFIG';
}

/** A config asks for a collector or actuator whose client library (an optional peer dependency) cannot be loaded. */
export class MissingPackageError extends SluiceError {
  readonly code = 'SLUICE_MISSING_PACKAGE';
  override readonly name = 'MissingPackageError';
  /** The package to install, e.g. `"amqplib"`. */
  readonly packageName: string;
  /** Path of the part of the config that needs it, e.g. `"collectors[2]"`. */
  readonly option: string;

  constructor(packageName: string, option: string, what: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    // A missing package says so; anything else (a broken install, a missing dependency of it) is shown.
    const plain =
      (cause as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND' &&
      message.includes(`'${packageName}'`);
    super(
      `sluice: ${option} (${what}) needs the package ${packageName}, which cannot be loaded; ` +
        `install it beside sluice: npm install ${packageName}${plain ? '' : ` (${message})`}`,
      { cause },
    );
    this.packageName = packageName;
    this.option = option;
  }
}

export function isMissingPackageError(error: unknown): error is MissingPackageError {
  return isSluiceError(error) && error.code === 'SLUICE_MISSING_PACKAGE';
}

// --- Parsing ------------------------------------------------------------------------------------------

export interface ParseAutoscaleConfigOptions {
  /** The file's name in messages. Default `"<autoscale config>"`. */
  readonly file?: string;
  /** Directory that relative paths in the config are relative to. Default the process's working directory. */
  readonly dir?: string;
}

/**
 * Parses and validates the text of an autoscaler config (YAML or JSON). Every key is checked, and every
 * part is validated as the factories would validate it (without connecting to anything), so that a config
 * that parses builds. Throws an `AutoscaleConfigError` locating the problem.
 *
 * ```yaml
 * interval: 15s
 * max: 20
 * collectors:
 *   - { type: prometheus, url: http://127.0.0.1:9464/metrics, metrics: { inflight: http_inflight } }
 * policies:
 *   - { type: target, signal: inflight, target: 8 }
 * actuator: { type: kubernetes, kind: Deployment, name: api, namespace: shop }
 * ```
 */
export function parseAutoscaleConfig(
  text: string,
  options: ParseAutoscaleConfigOptions = {},
): AutoscaleConfig {
  const file = options.file ?? '<autoscale config>';
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const source = new Source(file, text, doc, lines);
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const [start, end] = syntax.pos;
    const { line, col } = lines.linePos(start);
    const detail = `invalid YAML: ${syntax.message.replace(/\s+/g, ' ').trim()}`;
    throw new AutoscaleConfigError(file, detail, {
      line,
      column: col,
      excerpt: source.excerpt(start, end),
      cause: syntax,
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new AutoscaleConfigError(file, `cannot read the YAML (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (value == null)
    throw new AutoscaleConfigError(file, 'the file is empty: it must hold an autoscaler config');
  try {
    if (!isPlainObject(value)) {
      throw new ConfigError(
        '',
        value,
        'a mapping of autoscaler options (max, collectors, policies, actuator, ...)',
      );
    }
    return readConfig(value, options.dir ?? process.cwd());
  } catch (error) {
    if (isConfigError(error)) throw source.error(error);
    throw error;
  }
}

/** Reads, parses and validates the autoscaler config file at `path`; `name` is the file in messages (default `path`). */
export async function loadAutoscaleConfig(
  path: string,
  options: { readonly name?: string } = {},
): Promise<AutoscaleConfig> {
  const name = options.name ?? path;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(error);
    throw new AutoscaleConfigError(name, `cannot read the autoscaler config (${why})`, { cause: error });
  }
  return parseAutoscaleConfig(text, { file: name, dir: dirname(resolve(path)) });
}

type Raw = Record<string, unknown>;
type Out = Record<string, unknown>;

const topKeys = [
  'name',
  'mode',
  'interval',
  'min',
  'max',
  'warmup',
  'cooldown',
  'behavior',
  'cost',
  'rollback',
  'horizon',
  'analyser',
  'collectTimeout',
  'scaleTimeout',
  'staleAfter',
  'collectors',
  'policies',
  'actuator',
  'shadow',
] as const;

/** The controller's option names that the file spells without their `Ms` suffix. */
const controllerNames = new Map([
  ['stabilizationWindowMs', 'stabilizationWindow'],
  ['periodMs', 'period'],
  ['windowMs', 'window'],
  ['holdMs', 'hold'],
]);

function readConfig(raw: Raw, dir: string): AutoscaleConfig {
  checkKeys('', raw, topKeys);
  const out: Out = {};
  put(out, 'name', raw['name']);
  put(out, 'mode', raw['mode']);
  for (const key of ['interval', 'warmup', 'horizon', 'collectTimeout', 'scaleTimeout', 'staleAfter']) {
    put(out, key, optionalTime(key, raw[key]));
  }
  put(out, 'min', raw['min']);
  if (raw['max'] === undefined)
    throw new ConfigError('max', undefined, 'the most replicas, an integer >= min');
  put(out, 'max', raw['max']);
  if (raw['cooldown'] !== undefined) {
    const c = mapping('cooldown', raw['cooldown'], ['up', 'down'], 'a mapping { up, down } of times');
    const cooldown: Out = {};
    put(cooldown, 'up', optionalTime('cooldown.up', c['up']));
    put(cooldown, 'down', optionalTime('cooldown.down', c['down']));
    out['cooldown'] = cooldown as Cooldown;
  }
  put(out, 'behavior', readBehavior('behavior', raw['behavior']));
  if (raw['cost'] !== undefined) out['cost'] = readCost(raw['cost']);
  if (raw['rollback'] !== undefined) out['rollback'] = readRollback(raw['rollback']);
  if (raw['analyser'] !== undefined) {
    const a = mapping('analyser', raw['analyser'], [
      'halfLife',
      'levelHalfLife',
      'trendHalfLife',
      'accuracyWindow',
    ]);
    const analyser: Out = {};
    for (const key of ['halfLife', 'levelHalfLife', 'trendHalfLife']) {
      put(analyser, key, optionalTime(`analyser.${key}`, a[key]));
    }
    put(analyser, 'accuracyWindow', a['accuracyWindow']);
    out['analyser'] = analyser;
  }

  const collectors =
    raw['collectors'] === undefined ? [] : array('collectors', raw['collectors'], 'a list of collectors');
  out['collectors'] = collectors.map((c, i) => readCollector(`collectors[${i}]`, c));
  out['policies'] = readPolicies('policies', raw['policies']);
  if (raw['actuator'] === undefined) {
    throw new ConfigError(
      'actuator',
      undefined,
      `what applies the count: a mapping with a type (${actuatorTypes.join(', ')})`,
    );
  }
  out['actuator'] = readActuator('actuator', raw['actuator'], dir);
  if (raw['shadow'] !== undefined) {
    const s = mapping(
      'shadow',
      raw['shadow'],
      ['policies', 'behavior'],
      'a candidate { policies, behavior? }',
    );
    const shadow: Out = { policies: readPolicies('shadow.policies', s['policies']) };
    put(shadow, 'behavior', readBehavior('shadow.behavior', s['behavior']));
    out['shadow'] = shadow;
  }
  const config = out as unknown as AutoscaleConfig;
  validate(config);
  return config;
}

/** Builds what the config describes, with stand-ins for clients and actuators, so the factories check it all. */
function validate(config: AutoscaleConfig): void {
  const collectors = config.collectors.map((c, i) => collectorOf(c, `collectors[${i}]`, undefined, standIns));
  const actuator = validActuator(config.actuator);
  controllerOptions(config, { collectors, actuator });
}

function readBehavior(path: string, value: unknown): Behavior | undefined {
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

function readCost(value: unknown): CostOptions {
  const c = mapping('cost', value, ['pricePerReplicaHour', 'maxSpendPerHour', 'preemptible']);
  const out: Out = { pricePerReplicaHour: c['pricePerReplicaHour'], maxSpendPerHour: c['maxSpendPerHour'] };
  if (c['preemptible'] !== undefined) {
    out['preemptible'] = {
      ...mapping('cost.preemptible', c['preemptible'], ['share', 'pricePerReplicaHour']),
    };
  }
  return out as unknown as CostOptions;
}

function readRollback(value: unknown): RollbackOptions {
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

// Collectors.

const collectorKeys = {
  prometheus: ['url', 'metrics', 'absent', 'headers', 'name'],
  promql: ['url', 'queries', 'absent', 'headers', 'name'],
  rabbitmq: ['url', 'queues', 'name'],
  nats: ['url', 'stream', 'consumer', 'oldestAge', 'name'],
  'redis-stream': ['url', 'stream', 'group', 'oldestAge', 'name'],
  sql: ['url', 'sql', 'params', 'name'],
} as const;
type CollectorType = keyof typeof collectorKeys;
const collectorTypes = Object.keys(collectorKeys) as CollectorType[];

/** URL schemes of the collectors that connect to a service, with an example for messages. */
const serviceUrls: Readonly<
  Record<string, { readonly schemes: readonly string[]; readonly example: string }>
> = {
  rabbitmq: { schemes: ['amqp:', 'amqps:'], example: 'amqp://guest:guest@127.0.0.1:5672' },
  nats: { schemes: ['nats:', 'tls:'], example: 'nats://127.0.0.1:4222' },
  'redis-stream': { schemes: ['redis:', 'rediss:'], example: 'redis://127.0.0.1:6379' },
  sql: { schemes: ['postgres:', 'postgresql:'], example: 'postgres://user@127.0.0.1:5432/db' },
};

function readCollector(path: string, value: unknown): CollectorConfig {
  const raw = object(path, value, `a collector: a mapping with a type (${collectorTypes.join(', ')})`);
  const type = oneOf(join(path, 'type'), raw['type'], collectorTypes);
  checkKeys(path, raw, ['type', ...collectorKeys[type]]);
  const out: Out = { ...raw };
  const service = serviceUrls[type];
  if (service !== undefined) {
    const url = join(path, 'url');
    let parsed: URL | undefined;
    try {
      parsed = typeof raw['url'] === 'string' ? new URL(raw['url']) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !service.schemes.includes(parsed.protocol)) {
      throw new ConfigError(
        url,
        raw['url'],
        `a URL such as ${service.example} (${service.schemes.join(' or ')})`,
      );
    }
  }
  if (type === 'prometheus' && isPlainObject(raw['metrics'])) {
    for (const [reading, selection] of Object.entries(raw['metrics'])) {
      if (isPlainObject(selection))
        checkKeys(`${path}.metrics.${reading}`, selection, ['series', 'aggregate', 'rate']);
    }
  }
  return out as unknown as CollectorConfig;
}

/** Clients that answer nothing: enough for the factories to check their options. */
const standIns: Clients = {
  channel: { checkQueue: () => Promise.reject(new Error('not connected')) },
  jsm: {
    consumers: { info: () => Promise.reject(new Error('not connected')) },
    streams: { getMessage: () => Promise.reject(new Error('not connected')) },
  },
  redis: { call: () => Promise.reject(new Error('not connected')) },
  query: () => Promise.reject(new Error('not connected')),
};

interface Clients {
  readonly channel?: QueueCheckingChannel;
  readonly jsm?: CollectedJetStreamManager;
  readonly redis?: RedisCaller;
  readonly query?: (sql: string, params: unknown[]) => Promise<unknown>;
}

/** The collector `spec` describes, over `clients`; its factory's errors named under `path`. */
function collectorOf(
  spec: CollectorConfig,
  path: string,
  clock: Clock | undefined,
  clients: Clients,
): Collector {
  const timing = clock === undefined ? {} : { clock };
  const named = spec.name === undefined ? {} : { name: spec.name };
  return relocated(path, {}, () => {
    switch (spec.type) {
      case 'prometheus': {
        const { type: _, ...options } = spec;
        return prometheusCollector({ ...options, ...timing });
      }
      case 'promql': {
        const { type: _, ...options } = spec;
        return promqlCollector(options);
      }
      case 'rabbitmq':
        return rabbitmqCollector({ channel: clients.channel!, queues: spec.queues, ...named, ...timing });
      case 'nats':
        return natsCollector({
          jsm: clients.jsm!,
          stream: spec.stream,
          consumer: spec.consumer,
          ...(spec.oldestAge === undefined ? {} : { oldestAge: spec.oldestAge }),
          ...named,
          ...timing,
        });
      case 'redis-stream':
        return redisStreamCollector({
          redis: clients.redis!,
          stream: spec.stream,
          group: spec.group,
          ...(spec.oldestAge === undefined ? {} : { oldestAge: spec.oldestAge }),
          ...named,
          ...timing,
        });
      case 'sql':
        return sqlCollector({
          query: clients.query!,
          sql: spec.sql,
          ...(spec.params === undefined ? {} : { params: spec.params }),
          ...named,
          ...timing,
        });
    }
  });
}

// Policies.

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

function readPolicies(path: string, value: unknown): PolicyConfig[] {
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
function policyOf(spec: PolicyConfig, path: string): ScalingPolicy {
  switch (spec.type) {
    case 'target': {
      const { type: _, ...options } = spec;
      return relocated(path, { prefix: 'targetTracking' }, () => targetTracking(options));
    }
    case 'hpa': {
      const { type: _, ...options } = spec;
      return relocated(path, { prefix: 'hpaBaseline' }, () => hpaBaseline(options));
    }
    case 'queue': {
      const { type: _, ...options } = spec;
      return relocated(path, { prefix: 'queueBased' }, () => queueBased(options));
    }
    case 'step': {
      const { type: _, ...options } = spec;
      return relocated(path, { prefix: 'stepScaling' }, () => stepScaling(options));
    }
    case 'burst': {
      const { type: _, ...options } = spec;
      return relocated(path, { prefix: 'burst' }, () => burst(options));
    }
    case 'predictive': {
      const inner = policyOf(spec.policy, join(path, 'policy'));
      return relocated(path, { prefix: 'predictive' }, () =>
        predictive({
          policy: inner,
          ...(spec.horizon === undefined ? {} : { horizon: spec.horizon }),
          ...(spec.name === undefined ? {} : { name: spec.name }),
        }),
      );
    }
  }
}

// Actuators.

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
const actuatorTypes = Object.keys(actuatorKeys) as ActuatorType[];

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

function readActuator(path: string, value: unknown, dir: string): ActuatorConfig {
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
function validActuator(spec: ActuatorConfig): Actuator {
  const path = 'actuator';
  switch (spec.type) {
    case 'kubernetes':
      return relocated(path, { rename: actuatorNames }, () =>
        kubernetesActuator({ ...kubernetesOptions(spec), api: standInApi }),
      );
    case 'process': {
      const { type: _, replicas, ...options } = spec;
      const actuator = relocated(path, { rename: actuatorNames }, () =>
        processActuator({ ...options, replicas: 0 }),
      );
      void actuator.close();
      if (replicas !== undefined) integer(join(path, 'replicas'), replicas, 0);
      return actuator;
    }
    default:
      return actuatorOf(spec, undefined);
  }
}

const notConnected = (): Promise<never> => Promise.reject(new Error('not connected'));
const standInApi = {
  readNamespacedDeploymentScale: notConnected,
  readNamespacedStatefulSetScale: notConnected,
  readNamespacedDeployment: notConnected,
  readNamespacedStatefulSet: notConnected,
  patchNamespacedDeploymentScale: notConnected,
  patchNamespacedStatefulSetScale: notConnected,
};

function kubernetesOptions(spec: KubernetesActuatorConfig) {
  return {
    kind: spec.kind,
    name: spec.name,
    ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    ...(spec.fieldManager === undefined ? {} : { fieldManager: spec.fieldManager }),
  };
}

/** The command, webhook or process actuator `spec` describes; errors named under `actuator`. */
function actuatorOf(
  spec: CommandActuatorConfig | WebhookActuatorConfig | ProcessActuatorConfig,
  clock: Clock | undefined,
): Actuator {
  const timing = clock === undefined ? {} : { clock };
  return relocated('actuator', { rename: actuatorNames }, () => {
    switch (spec.type) {
      case 'command': {
        const { type: _, ...options } = spec;
        return commandActuator({ ...options, ...timing });
      }
      case 'webhook': {
        const { type: _, ...options } = spec;
        return webhookActuator({ ...options, ...timing });
      }
      case 'process': {
        const { type: _, ...options } = spec;
        return processActuator({ ...options, ...timing });
      }
    }
  });
}

/** The options of `createAutoscaler` for `config` with these parts, checked by making the controller. */
function controllerOptions(
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
    ...(parts.mode === undefined ? {} : { mode: parts.mode }),
    ...(parts.clock === undefined ? {} : { clock: parts.clock }),
    ...(parts.logger === undefined ? {} : { logger: parts.logger }),
    ...(rollback === undefined ? {} : { rollback }),
    ...(shadow === undefined
      ? {}
      : {
          shadow: {
            policies: shadow.policies.map((p, i) => policyOf(p, `shadow.policies[${i}]`)),
            ...(shadow.behavior === undefined ? {} : { behavior: shadow.behavior }),
          },
        }),
  };
  const autoscaler = relocated('', { rename: controllerNames, horizon: true }, () =>
    createAutoscaler(options),
  );
  return { options, autoscaler };
}

// --- Building -----------------------------------------------------------------------------------------

export interface AutoscalerFromConfigOptions {
  /** Time source of the controller, the collectors and the actuator. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Overrides the config's `mode`, e.g. `"dry-run"` from the command line. */
  readonly mode?: ScaleMode;
  /** Gets every decision as a structured record (see `AutoscalerOptions.logger`). */
  readonly logger?: AutoscalerLogger;
  /**
   * An autoscaler built from an earlier version of the config (a reload): its actuator and collectors
   * whose config has not changed are taken over instead of made anew, so a process actuator keeps its
   * children, a command or webhook actuator its last count, a Prometheus collector its rates and a
   * service collector its connection. Its controller is not: close `previous` once this resolves (it
   * stops the old controller and closes what was not taken over), then start the new one.
   */
  readonly previous?: ConfiguredAutoscaler;
}

/** An autoscaler built from a config, with the parts it owns. */
export interface ConfiguredAutoscaler {
  /** The controller, not started: call `start()`, or drive it with `tick()`. */
  readonly autoscaler: Autoscaler;
  /** The options it was made with. */
  readonly options: AutoscalerOptions;
  /** What was taken over from `previous`: whether the actuator was, and the names of the collectors that were. */
  readonly reused: { readonly actuator: boolean; readonly collectors: readonly string[] };
  /**
   * Stops the controller (a tick in flight finishes, acting included), then closes the actuator (a process
   * actuator stops its children; a command actuator waits for a running command) and the collectors'
   * connections, except those a later autoscaler took over. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds the autoscaler a config describes (as `parseAutoscaleConfig` returns it): loads the client
 * libraries its collectors and actuator need (throwing a `MissingPackageError` naming a missing one), makes
 * the collectors (connecting on their first collect), the policies and the actuator, and creates the
 * controller, not started.
 *
 * ```ts
 * const built = await autoscalerFromConfig(await loadAutoscaleConfig('autoscale.yaml'));
 * built.autoscaler.on('decision', (d) => console.log(d.summary));
 * built.autoscaler.start();
 * process.once('SIGTERM', () => void built.close());
 * ```
 */
export function autoscalerFromConfig(
  config: AutoscaleConfig,
  options: AutoscalerFromConfigOptions = {},
): Promise<ConfiguredAutoscaler> {
  return Built.make(config, options);
}

/** A collector or the actuator, with what releases it. */
interface Part {
  /** Its config, canonical: a later config with the same key reuses it. */
  readonly key: string;
  readonly value: Collector | Actuator;
  close(): Promise<void>;
}

class Built implements ConfiguredAutoscaler {
  readonly autoscaler: Autoscaler;
  readonly options: AutoscalerOptions;
  readonly reused: { readonly actuator: boolean; readonly collectors: readonly string[] };
  #parts: Part[];
  #closing: Promise<void> | undefined;

  private constructor(
    made: { options: AutoscalerOptions; autoscaler: Autoscaler },
    parts: Part[],
    reused: ConfiguredAutoscaler['reused'],
  ) {
    this.autoscaler = made.autoscaler;
    this.options = made.options;
    this.#parts = parts;
    this.reused = reused;
  }

  static async make(config: AutoscaleConfig, options: AutoscalerFromConfigOptions): Promise<Built> {
    const previous = options.previous instanceof Built ? options.previous : undefined;
    const clock = options.clock;
    const deadline = config.collectTimeout ?? Math.min((config.interval ?? 15_000) / 2, 10_000);
    const made: Part[] = [];
    const taken: Part[] = [];
    const offered = previous === undefined ? [] : previous.#parts;
    const take = (key: string): Part | undefined => {
      const part = offered.find((p) => p.key === key && !taken.includes(p));
      if (part !== undefined) taken.push(part);
      return part;
    };
    try {
      const collectors: Collector[] = [];
      const reusedCollectors: string[] = [];
      for (const [i, spec] of config.collectors.entries()) {
        const key = `collector ${canonical(spec)}`;
        const old = take(key);
        if (old !== undefined) {
          collectors.push(old.value as Collector);
          reusedCollectors.push(old.value.name);
          continue;
        }
        const part = await collectorPart(spec, `collectors[${i}]`, key, clock, deadline);
        made.push(part);
        collectors.push(part.value as Collector);
      }
      const actuatorKey = `actuator ${canonical(config.actuator)}`;
      let actuator = take(actuatorKey);
      const reusedActuator = actuator !== undefined;
      if (actuator === undefined) {
        actuator = await actuatorPart(config.actuator, actuatorKey, clock);
        made.push(actuator);
      }
      const controller = controllerOptions(config, {
        collectors,
        actuator: actuator.value as Actuator,
        clock,
        mode: options.mode,
        logger: options.logger,
      });
      // Only now do the parts taken over change hands: a build that fails leaves `previous` whole.
      if (previous !== undefined) previous.#parts = previous.#parts.filter((p) => !taken.includes(p));
      return new Built(controller, [...taken, ...made], {
        actuator: reusedActuator,
        collectors: reusedCollectors,
      });
    } catch (error) {
      await Promise.allSettled(made.map((p) => p.close()));
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.autoscaler.stop();
      const parts = this.#parts;
      this.#parts = [];
      const results = await Promise.allSettled(parts.map((p) => p.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    })();
    return this.#closing;
  }
}

const nothing = async (): Promise<void> => {};

async function collectorPart(
  spec: CollectorConfig,
  path: string,
  key: string,
  clock: Clock | undefined,
  deadline: number,
): Promise<Part> {
  const make = (clients: Clients, close: () => Promise<void>): Part => {
    try {
      return { key, value: collectorOf(spec, path, clock, clients), close };
    } catch (error) {
      void close();
      throw error;
    }
  };
  switch (spec.type) {
    case 'prometheus':
    case 'promql':
      return make({}, nothing);
    case 'rabbitmq': {
      const amqp = await load('amqplib', path, 'type rabbitmq', () => import('amqplib'));
      const client = rabbitmqClient(amqp, spec.url, deadline);
      return make({ channel: client.channel }, client.close);
    }
    case 'nats': {
      const transport = await load(
        '@nats-io/transport-node',
        path,
        'type nats',
        () => import('@nats-io/transport-node'),
      );
      const jetstream = await load(
        '@nats-io/jetstream',
        path,
        'type nats',
        () => import('@nats-io/jetstream'),
      );
      const client = natsClient(transport, jetstream, spec.url, deadline);
      return make({ jsm: client.jsm }, client.close);
    }
    case 'redis-stream': {
      const ioredis = await load('ioredis', path, 'type redis-stream', () => import('ioredis'));
      const Redis = ioredis.Redis ?? ioredis.default;
      const redis = new Redis(spec.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: deadline,
      });
      // ioredis reconnects by itself; without a listener, each failed attempt is logged as unhandled.
      redis.on('error', () => {});
      return make({ redis }, async () => redis.disconnect());
    }
    case 'sql': {
      const module = await load('pg', path, 'type sql', () => import('pg'));
      const Pool = module.Pool ?? module.default.Pool;
      const pool = new Pool({
        connectionString: spec.url,
        max: 1,
        connectionTimeoutMillis: Math.ceil(deadline),
        statement_timeout: Math.ceil(deadline),
      });
      pool.on('error', () => {}); // an idle connection lost; the next query makes a new one
      return make({ query: (sql, params) => pool.query(sql, params) }, () => pool.end());
    }
  }
}

async function actuatorPart(spec: ActuatorConfig, key: string, clock: Clock | undefined): Promise<Part> {
  const timing = clock === undefined ? {} : { clock };
  if (spec.type !== 'kubernetes') {
    const actuator = actuatorOf(spec, clock);
    return { key, value: actuator, close: async () => actuator.close?.() };
  }
  const k8s = await load(
    '@kubernetes/client-node',
    'actuator',
    'type kubernetes',
    () => import('@kubernetes/client-node'),
  );
  let kubeConfig: KubeConfigLike | undefined;
  if (spec.kubeconfig !== undefined || spec.context !== undefined) {
    const kc = new k8s.KubeConfig();
    try {
      if (spec.kubeconfig === undefined) kc.loadFromDefault();
      else kc.loadFromFile(spec.kubeconfig);
    } catch (error) {
      throw new ConfigError(
        'actuator.kubeconfig',
        spec.kubeconfig,
        `a readable kubeconfig file (${(error as Error).message})`,
      );
    }
    if (spec.context !== undefined) {
      if (kc.getContextObject(spec.context) == null) {
        const known = kc.getContexts().map((c) => c.name);
        throw new ConfigError(
          'actuator.context',
          spec.context,
          `a context of the kubeconfig (${known.join(', ') || 'it has none'})`,
        );
      }
      kc.setCurrentContext(spec.context);
    }
    kubeConfig = kc;
  }
  const actuator = relocated('actuator', { rename: actuatorNames }, () =>
    kubernetesActuator({
      ...kubernetesOptions(spec),
      ...(kubeConfig === undefined ? {} : { kubeConfig }),
      ...timing,
    }),
  );
  return { key, value: actuator, close: nothing };
}

async function load<T>(
  packageName: string,
  option: string,
  what: string,
  importer: () => Promise<T>,
): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    throw new MissingPackageError(packageName, option, what, error);
  }
}

/**
 * A client made on first use and made again after it was lost. `open` gets a `lost` callback to call when
 * the client closes by itself; a failed open is forgotten, so the next use tries again. After `close()`,
 * uses fail.
 */
class Reconnecting<T> {
  readonly #open: (lost: () => void) => Promise<T>;
  readonly #end: (client: T) => Promise<void>;
  #client: Promise<T> | undefined;
  #closed = false;

  constructor(open: (lost: () => void) => Promise<T>, end: (client: T) => Promise<void>) {
    this.#open = open;
    this.#end = end;
  }

  get(): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the collector is closed'));
    if (this.#client === undefined) {
      let opening: Promise<T> | undefined;
      const lost = (): void => {
        if (this.#client === opening) this.#client = undefined;
      };
      opening = this.#open(lost);
      this.#client = opening;
      opening.catch(lost);
    }
    return this.#client;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const opening = this.#client;
    this.#client = undefined;
    if (opening === undefined) return;
    let client: T;
    try {
      client = await opening;
    } catch {
      return; // never opened: nothing to close
    }
    try {
      await this.#end(client);
    } catch {
      // already gone
    }
  }
}

type Amqp = typeof import('amqplib');
type AmqpChannel = Awaited<ReturnType<Awaited<ReturnType<Amqp['connect']>>['createChannel']>>;

/**
 * A channel for queue checks over one connection, both made again when lost: RabbitMQ closes a channel
 * whose queue check fails (a queue that does not exist), and a connection may drop.
 */
function rabbitmqClient(amqp: Amqp, url: string, deadline: number) {
  const connect = amqp.connect ?? (amqp as unknown as { default: Amqp }).default.connect;
  const connection = new Reconnecting(
    async (lost) => {
      const model = await connect(url, { timeout: Math.ceil(deadline) });
      model.on('close', lost);
      model.on('error', () => {}); // followed by 'close'; without a listener it would crash the process
      return model;
    },
    (model) => model.close(),
  );
  const channel = new Reconnecting<AmqpChannel>(
    async (lost) => {
      const ch = await (await connection.get()).createChannel();
      ch.on('close', lost);
      ch.on('error', () => {}); // a failed check: the collect already failed with it
      return ch;
    },
    (ch) => ch.close(),
  );
  return {
    channel: { checkQueue: async (queue: string) => (await channel.get()).checkQueue(queue) },
    close: async () => {
      await channel.close();
      await connection.close();
    },
  };
}

/** A JetStream manager over one connection, made on first use; the NATS client reconnects by itself after that. */
function natsClient(
  transport: typeof import('@nats-io/transport-node'),
  jetstream: typeof import('@nats-io/jetstream'),
  url: string,
  deadline: number,
) {
  const parsed = new URL(url);
  const credentials: Record<string, string> = {};
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  if (user !== '' && pass === '') credentials['token'] = user;
  else if (user !== '') Object.assign(credentials, { user, pass });
  const server = `${parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname}:${parsed.port || 4222}`;
  const client = new Reconnecting(
    async (lost) => {
      const nc = await transport.connect({
        servers: server,
        ...credentials,
        ...(parsed.protocol === 'tls:' ? { tls: {} } : {}),
        timeout: Math.ceil(deadline),
        maxReconnectAttempts: -1,
      });
      void nc.closed().then(lost);
      try {
        return { nc, jsm: await jetstream.jetstreamManager(nc) };
      } catch (error) {
        await nc.close();
        throw error;
      }
    },
    ({ nc }) => nc.close(),
  );
  const jsm: CollectedJetStreamManager = {
    consumers: {
      info: async (stream, consumer) => (await client.get()).jsm.consumers.info(stream, consumer),
    },
    streams: {
      getMessage: async (stream, query) => (await client.get()).jsm.streams.getMessage(stream, query),
    },
  };
  return { jsm, close: () => client.close() };
}

// --- Shared helpers -----------------------------------------------------------------------------------

/** Sets `out[key]` unless `value` is undefined: options are exact (absent, never undefined). */
function put(out: Out, key: string, value: unknown): void {
  if (value !== undefined) out[key] = value;
}

/** `value` as a mapping with only `allowed` keys, or a `ConfigError` naming `path`. */
function mapping(path: string, value: unknown, allowed: readonly string[], what = 'a mapping'): Raw {
  const raw = object(path, value, what);
  checkKeys(path, raw, allowed);
  return raw;
}

function strings(path: string, value: unknown): Record<string, string> {
  const raw = object(path, value, 'a mapping of names to strings');
  for (const [key, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new ConfigError(join(path, key), v, 'a string');
  }
  return raw as Record<string, string>;
}

const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * A time in milliseconds: a number (any: the option's own check bounds it), or a string of numbers with
 * units, `500ms`, `30s`, `5m`, `1.5h`, `1m30s`.
 */
function time(path: string, value: unknown): number {
  if (typeof value === 'number' && !Number.isNaN(value)) return value;
  if (typeof value === 'string') {
    let rest = value.trim();
    let total = 0;
    while (rest !== '') {
      const m = /^(\d+(?:\.\d+)?)\s*(ms|min|s|m|h)\s*/.exec(rest);
      if (m === null) break;
      total += Number(m[1]) * units[m[2]!]!;
      rest = rest.slice(m[0].length);
    }
    if (rest === '' && value.trim() !== '') return total;
  }
  throw new ConfigError(
    path,
    value,
    'a time: milliseconds, or a number with a unit such as 500ms, 30s, 5m, 1h or 1m30s',
  );
}

function optionalTime(path: string, value: unknown): number | undefined {
  return value === undefined ? undefined : time(path, value);
}

/** How a factory names its options, to name them as the file does. */
interface Relocation {
  /** The factory's own prefix (`"queueBased"` in `"queueBased.perReplica"`), dropped. */
  readonly prefix?: string;
  /** Option names the file spells differently, by segment. */
  readonly rename?: ReadonlyMap<string, string>;
  /** The controller names its `horizon` under `analyser.`; the file has it at the top. */
  readonly horizon?: boolean;
}

/** Runs `make`, naming the options of a `ConfigError` it throws under `path`, as the file spells them. */
function relocated<T>(path: string, how: Relocation, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    let rest = error.option;
    if (how.horizon && rest === 'analyser.horizon') rest = 'horizon';
    if (rest === 'options' || rest === how.prefix) rest = '';
    else if (how.prefix !== undefined && rest.startsWith(`${how.prefix}.`))
      rest = rest.slice(how.prefix.length + 1);
    const rename = how.rename;
    if (rename !== undefined) rest = rest.replace(/[^.[\]]+/g, (segment) => rename.get(segment) ?? segment);
    const option =
      rest === '' ? path : path === '' || rest.startsWith('[') ? `${path}${rest}` : `${path}.${rest}`;
    throw new ConfigError(option, error.value, error.expected);
  }
}

/** JSON with the keys of every object sorted, so equal configs give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    isPlainObject(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The parsed file, to turn option paths into lines. */
class Source {
  readonly #file: string;
  readonly #text: string;
  readonly #doc: Document.Parsed;
  readonly #lines: LineCounter;

  constructor(file: string, text: string, doc: Document.Parsed, lines: LineCounter) {
    this.#file = file;
    this.#text = text;
    this.#doc = doc;
    this.#lines = lines;
  }

  /** The file error for `error`, located at its option's path (the nearest node that exists, else the file). */
  error(error: ConfigError): AutoscaleConfigError {
    const known = /^absent \(unknown option; known: (.*)\)$/.exec(error.expected);
    const detail =
      known !== null
        ? `unknown option "${error.option}" (known: ${known[1]})${suggestion(error.option, known[1]!.split(', '))}`
        : error.option === ''
          ? `the file must hold ${error.expected}`
          : error.message.replace(/^sluice: /, '');
    const range = this.#locate(error.option, known !== null);
    if (range === undefined)
      return new AutoscaleConfigError(this.#file, detail, { path: error.option, cause: error });
    const { line, col } = this.#lines.linePos(range[0]);
    return new AutoscaleConfigError(this.#file, detail, {
      path: error.option,
      line,
      column: col,
      excerpt: this.excerpt(range[0], range[1]),
      cause: error,
    });
  }

  /** The line before the problem, its line, and a caret line under [start, end). */
  excerpt(start: number, end: number): string {
    const { line, col } = this.#lines.linePos(start);
    const starts = this.#lines.lineStarts;
    const lineText = (n: number): string => {
      const from = starts[n - 1] ?? this.#text.length;
      const to = starts[n] ?? this.#text.length;
      return this.#text.slice(from, to).replace(/\r?\n$/, '');
    };
    const gutter = String(line).length;
    const out: string[] = [];
    for (let n = Math.max(1, line - 1); n <= line; n++)
      out.push(`${String(n).padStart(gutter)} | ${lineText(n)}`);
    const width = Math.max(1, Math.min(end - start, lineText(line).length - col + 1));
    out.push(`${' '.repeat(gutter)} | ${' '.repeat(col - 1)}${'^'.repeat(width)}`);
    return out.join('\n');
  }

  /**
   * Source range of the value at `path` (of its key for an unknown option), or of its nearest ancestor;
   * `undefined` for a top-level option that is missing (pointing at the whole file says nothing).
   */
  #locate(path: string, key: boolean): [number, number] | undefined {
    const steps = (path.match(/[^.[\]]+|\[\d+\]/g) ?? []).map((p) =>
      p.startsWith('[') ? Number(p.slice(1, -1)) : p,
    );
    let node: Node | null | undefined = this.#doc.contents;
    let found = steps.length === 0 ? rangeOf(node) : undefined;
    for (let i = 0; i < steps.length && node != null; i++) {
      if (isAlias(node)) node = node.resolve(this.#doc);
      const step = steps[i]!;
      if (isSeq(node) && typeof step === 'number') {
        node = node.items[step] as Node | undefined;
        found = rangeOf(node) ?? found;
        continue;
      }
      if (!isMap(node)) break;
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (pair === undefined) break;
      const k = pair.key as Node;
      const v = pair.value as Node | null;
      found = (i === steps.length - 1 && key ? rangeOf(k) : (rangeOf(v) ?? rangeOf(k))) ?? found;
      node = v;
    }
    return found;
  }
}

function rangeOf(node: Node | null | undefined): [number, number] | undefined {
  const range = node?.range;
  return range == null ? undefined : [range[0], range[1]];
}

/** `; did you mean "target"?` for a misspelt option, when one known option is close. */
function suggestion(option: string, known: readonly string[]): string {
  const typed = option.slice(option.lastIndexOf('.') + 1).toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(typed, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `; did you mean "${best}"?`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(
        Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
