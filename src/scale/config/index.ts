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
 *
 * One concern a file: `types.ts` the config as data; `parse.ts` the file and its top level;
 * `controller.ts`, `collectors.ts`, `policies.ts` and `actuators.ts` their sections; `fields.ts` and
 * `durations.ts` the values shared by sections; `source.ts` and `errors.ts` where in the file an error is;
 * `stand-ins.ts` what validation builds against; `clients.ts` the client libraries and connections;
 * `build.ts` the autoscaler built from a config, and the hand-over of its parts on a reload.
 */

export {
  type AutoscalerFromConfigOptions,
  autoscalerFromConfig,
  type ConfiguredAutoscaler,
} from './build.ts';
export {
  AutoscaleConfigError,
  isAutoscaleConfigError,
  isMissingPackageError,
  MissingPackageError,
} from './errors.ts';
export { loadAutoscaleConfig, type ParseAutoscaleConfigOptions, parseAutoscaleConfig } from './parse.ts';
export type {
  ActuatorConfig,
  AutoscaleConfig,
  CollectorConfig,
  CommandActuatorConfig,
  KubernetesActuatorConfig,
  NatsCollectorConfig,
  PolicyConfig,
  PredictivePolicyConfig,
  ProcessActuatorConfig,
  PrometheusCollectorConfig,
  PromqlCollectorConfig,
  RabbitmqCollectorConfig,
  ReactivePolicyConfig,
  RedisStreamCollectorConfig,
  SqlCollectorConfig,
  WebhookActuatorConfig,
} from './types.ts';
