// The actuators of sluice/scale: each applies a replica count to one kind of capacity. None loads an
// optional peer at import time (the Kubernetes client is imported on first use).

export { type CommandActuator, type CommandActuatorOptions, commandActuator } from './command.ts';
export {
  ActuatorError,
  type ActuatorOperation,
  ActuatorTimeoutError,
  CommandError,
  isActuatorError,
  isActuatorTimeoutError,
  isCommandError,
  isKubernetesApiError,
  isWebhookError,
  KubernetesApiError,
  type KubernetesErrorCode,
  WebhookError,
} from './errors.ts';
export {
  type KubeConfigLike,
  type KubernetesActuator,
  type KubernetesActuatorOptions,
  type KubernetesAppsApi,
  type KubernetesCapacity,
  type KubernetesKind,
  kubernetesActuator,
} from './kubernetes.ts';
export {
  type MemoryActuator,
  type MemoryActuatorOptions,
  type MemoryScaleCall,
  memoryActuator,
} from './memory.ts';
export {
  type ProcessActuator,
  type ProcessActuatorEvents,
  type ProcessActuatorOptions,
  type ProcessActuatorSnapshot,
  type ProcessInfo,
  type ProcessState,
  processActuator,
  type ReadyWhen,
  type RestartBackoffOptions,
} from './process.ts';
export type { CapacitySource, ReportedCapacityOptions } from './reported.ts';
export { type WebhookActuator, type WebhookActuatorOptions, webhookActuator } from './webhook.ts';
