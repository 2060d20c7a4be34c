import type { KubernetesAppsApi } from '../actuators/kubernetes.ts';
import type { Clients } from './collectors.ts';

/**
 * What a config is validated against instead of its services: clients and a Kubernetes API that answer
 * nothing, enough for the factories to check their options without connecting.
 */

const notConnected = (): Promise<never> => Promise.reject(new Error('not connected'));

export const standInClients: Clients = {
  channel: { checkQueue: notConnected },
  jsm: { consumers: { info: notConnected }, streams: { getMessage: notConnected } },
  redis: { call: notConnected },
  query: notConnected,
};

export const standInApi: KubernetesAppsApi = {
  readNamespacedDeploymentScale: notConnected,
  readNamespacedStatefulSetScale: notConnected,
  readNamespacedDeployment: notConnected,
  readNamespacedStatefulSet: notConnected,
  patchNamespacedDeploymentScale: notConnected,
  patchNamespacedStatefulSetScale: notConnected,
};
