import type { CommandActuatorOptions } from '../actuators/command.ts';
import type { KubernetesKind } from '../actuators/kubernetes.ts';
import type { ProcessActuatorOptions } from '../actuators/process.ts';
import type { WebhookActuatorOptions } from '../actuators/webhook.ts';
import type { SignalAnalyserOptions } from '../analyse.ts';
import type { PrometheusCollectorOptions, PromqlCollectorOptions } from '../collectors/prometheus.ts';
import type { AutoscalerOptions } from '../controller.ts';
import type { Behavior } from '../guards.ts';
import type { BurstOptions } from '../policies/burst.ts';
import type { HpaBaselineOptions } from '../policies/hpa.ts';
import type { QueueBasedOptions } from '../policies/queue-based.ts';
import type { StepScalingOptions } from '../policies/step-scaling.ts';
import type { TargetTrackingOptions } from '../policies/target-tracking.ts';
import type { RollbackOptions } from '../rollback.ts';

/** The config, as data: what `parseAutoscaleConfig` returns and `autoscalerFromConfig` builds. */

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
