import { type Clock, systemClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { integer, oneOf, or, positive } from '../../core/validate.ts';
import type { Actuator, Capacity } from '../types.ts';
import {
  ActuatorError,
  type ActuatorOperation,
  ActuatorTimeoutError,
  KubernetesApiError,
  type KubernetesRequest,
} from './errors.ts';
import { withTimeout } from './timeout.ts';

/**
 * Scales a Kubernetes Deployment or StatefulSet through its scale subresource, as `kubectl scale` and the
 * HorizontalPodAutoscaler do, with `@kubernetes/client-node` (an optional peer dependency, >= 1).
 *
 * - capacity: `GET .../<kind>s/<name>/scale` gives the replicas asked for (`spec.replicas`) and the pods that
 *   exist (`status.replicas`); `GET .../<kind>s/<name>` gives the ready ones (`status.readyReplicas`). Both
 *   requests go out together.
 * - scale: `PATCH .../<kind>s/<name>/scale` with the merge patch `{"spec":{"replicas":n}}`, recorded under
 *   the field manager `"sluice"`. Only the replica count is written; nothing else in the object changes.
 *
 * The client library is loaded with a dynamic `import()` on first use, so importing `sluice/scale` never
 * loads it. Refusals become `KubernetesApiError`s naming the resource and, for a 403, the RBAC rule that is
 * missing. See docs/scaling-kubernetes.md for the Role it needs and for living beside an existing HPA.
 */

/** A Scale object as the API returns it: `spec.replicas` is omitted when it is 0. */
export interface KubernetesScale {
  readonly spec?: { readonly replicas?: number | undefined } | undefined;
  readonly status?: { readonly replicas?: number | undefined } | undefined;
}

/** A Deployment or StatefulSet, as far as the actuator reads it. */
export interface KubernetesWorkload {
  readonly status?: { readonly readyReplicas?: number | undefined } | undefined;
}

interface ObjectRef {
  name: string;
  namespace: string;
}

interface ScalePatch extends ObjectRef {
  body: unknown;
  fieldManager?: string;
}

/**
 * The methods of `AppsV1Api` from `@kubernetes/client-node` (>= 1) that the actuator calls; a client made
 * with `kubeConfig.makeApiClient(AppsV1Api)` fits.
 */
export interface KubernetesAppsApi {
  readNamespacedDeploymentScale(param: ObjectRef, options?: object): Promise<KubernetesScale>;
  readNamespacedStatefulSetScale(param: ObjectRef, options?: object): Promise<KubernetesScale>;
  readNamespacedDeployment(param: ObjectRef, options?: object): Promise<KubernetesWorkload>;
  readNamespacedStatefulSet(param: ObjectRef, options?: object): Promise<KubernetesWorkload>;
  patchNamespacedDeploymentScale(param: ScalePatch, options?: object): Promise<KubernetesScale>;
  patchNamespacedStatefulSetScale(param: ScalePatch, options?: object): Promise<KubernetesScale>;
}

/** The part of a `KubeConfig` from `@kubernetes/client-node` that the actuator uses. */
export interface KubeConfigLike {
  /** Called with the library's `AppsV1Api` class. */
  makeApiClient(apiClientType: never): unknown;
  getCurrentContext(): string;
  getContextObject(name: string): { readonly namespace?: string | undefined } | null;
}

export type KubernetesKind = 'Deployment' | 'StatefulSet';

export interface KubernetesActuatorOptions {
  /** What to scale. */
  readonly kind: KubernetesKind;
  /** The Deployment's or StatefulSet's name. */
  readonly name: string;
  /**
   * Its namespace. Default: the namespace of the kubeconfig's current context (inside a pod, the pod's own
   * namespace), else `"default"`.
   */
  readonly namespace?: string;
  /** An `AppsV1Api` client you built. Give this or `kubeConfig`, not both. */
  readonly api?: KubernetesAppsApi;
  /**
   * A `KubeConfig` you built (`loadFromFile`, `loadFromCluster`, `loadFromOptions`). Default: a new one with
   * `loadFromDefault()`: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account.
   */
  readonly kubeConfig?: KubeConfigLike;
  /** Longest one API request may take (ms). Default 10000. */
  readonly timeoutMs?: number;
  /** Field manager recorded on the patch (shown in `managedFields`). Default `"sluice"`. */
  readonly fieldManager?: string;
  /** Time source for the request timeout. Default the system monotonic clock. */
  readonly clock?: Clock;
}

/** Capacity as the API reports it. */
export interface KubernetesCapacity extends Capacity {
  /** Pods that exist for the workload now, ready or not (`status.replicas` of the scale subresource). */
  readonly current: number;
}

export interface KubernetesActuator extends Actuator {
  readonly kind: KubernetesKind;
  readonly resourceName: string;
  capacity(signal?: AbortSignal): Promise<KubernetesCapacity>;
  scale(replicas: number, signal?: AbortSignal): Promise<void>;
}

type ClientModule = typeof import('@kubernetes/client-node');

interface Client {
  readonly api: KubernetesAppsApi;
  readonly namespace: string;
  readonly module: ClientModule;
}

const mergePatch = 'application/merge-patch+json';

class KubernetesScaleActuator implements KubernetesActuator {
  readonly name: string;
  readonly kind: KubernetesKind;
  readonly resourceName: string;
  readonly #namespace: string | undefined;
  readonly #api: KubernetesAppsApi | undefined;
  readonly #kubeConfig: KubeConfigLike | undefined;
  readonly #timeoutMs: number;
  readonly #fieldManager: string;
  readonly #clock: Clock;
  readonly #plural: 'deployments' | 'statefulsets';
  #client: Promise<Client> | undefined;

  constructor(options: KubernetesActuatorOptions) {
    this.kind = oneOf('kind', options.kind, ['Deployment', 'StatefulSet'] as const);
    this.resourceName = dnsName('name', options.name);
    this.#namespace = options.namespace === undefined ? undefined : dnsName('namespace', options.namespace);
    if (options.api !== undefined && options.kubeConfig !== undefined) {
      throw new ConfigError(
        'api',
        'an AppsV1Api client',
        'absent when "kubeConfig" is given (give one of them)',
      );
    }
    this.#api = options.api;
    this.#kubeConfig = options.kubeConfig;
    this.#timeoutMs = positive('timeoutMs', or(options.timeoutMs, 10_000));
    const manager = or(options.fieldManager, 'sluice');
    if (typeof manager !== 'string' || manager.length === 0 || manager.length > 128) {
      throw new ConfigError('fieldManager', manager, 'a non-empty string of at most 128 characters');
    }
    this.#fieldManager = manager;
    this.#clock = options.clock ?? systemClock;
    this.#plural = this.kind === 'Deployment' ? 'deployments' : 'statefulsets';
    this.name = `kubernetes:${this.kind.toLowerCase()}/${this.resourceName}`;
  }

  async capacity(signal?: AbortSignal): Promise<KubernetesCapacity> {
    const client = await this.#connect('capacity');
    const ref = { name: this.resourceName, namespace: client.namespace };
    const deployment = this.kind === 'Deployment';
    const [scale, workload] = await Promise.all([
      this.#call(client, 'capacity', 'get', `${this.#plural}/scale`, signal, undefined, (options) =>
        deployment
          ? client.api.readNamespacedDeploymentScale(ref, options)
          : client.api.readNamespacedStatefulSetScale(ref, options),
      ),
      this.#call(client, 'capacity', 'get', this.#plural, signal, undefined, (options) =>
        deployment
          ? client.api.readNamespacedDeployment(ref, options)
          : client.api.readNamespacedStatefulSet(ref, options),
      ),
    ]);
    return {
      desired: count(scale.spec?.replicas),
      ready: count(workload.status?.readyReplicas),
      current: count(scale.status?.replicas),
    };
  }

  async scale(replicas: number, signal?: AbortSignal): Promise<void> {
    integer('replicas', replicas, 0);
    const client = await this.#connect('scale');
    const request: ScalePatch = {
      name: this.resourceName,
      namespace: client.namespace,
      body: { spec: { replicas } },
      fieldManager: this.#fieldManager,
    };
    await this.#call(client, 'scale', 'patch', `${this.#plural}/scale`, signal, mergePatch, (options) =>
      this.kind === 'Deployment'
        ? client.api.patchNamespacedDeploymentScale(request, options)
        : client.api.patchNamespacedStatefulSetScale(request, options),
    );
  }

  /** Loads the client library and builds the API client once; a failed load is retried on the next call. */
  #connect(operation: ActuatorOperation): Promise<Client> {
    if (this.#client === undefined) {
      this.#client = this.#load(operation);
      this.#client.catch(() => {
        this.#client = undefined;
      });
    }
    return this.#client;
  }

  async #load(operation: ActuatorOperation): Promise<Client> {
    let module: ClientModule;
    try {
      module = await import('@kubernetes/client-node');
    } catch (error) {
      throw new ActuatorError(
        this.name,
        operation,
        'cannot load @kubernetes/client-node; install it beside sluice (npm install @kubernetes/client-node)',
        error,
      );
    }
    try {
      let kubeConfig = this.#kubeConfig;
      if (this.#api === undefined && kubeConfig === undefined) {
        const fresh = new module.KubeConfig();
        fresh.loadFromDefault();
        kubeConfig = fresh;
      }
      const api = this.#api ?? (kubeConfig!.makeApiClient(module.AppsV1Api as never) as KubernetesAppsApi);
      const namespace = this.#namespace ?? currentNamespace(kubeConfig) ?? 'default';
      return { api, namespace, module };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new ActuatorError(
        this.name,
        operation,
        `cannot make a client from the kubeconfig: ${detail}`,
        error,
      );
    }
  }

  /** One API request under the timeout, its failure turned into a typed error naming the resource. */
  async #call<T>(
    client: Client,
    operation: ActuatorOperation,
    verb: 'get' | 'patch',
    resource: string,
    signal: AbortSignal | undefined,
    contentType: string | undefined,
    request: (options: object) => Promise<T>,
  ): Promise<T> {
    const what: KubernetesRequest = {
      verb,
      resource,
      kind: this.kind,
      name: this.resourceName,
      namespace: client.namespace,
    };
    const timeout = () =>
      new ActuatorTimeoutError(
        this.name,
        operation,
        `${verb} ${resource} "${this.resourceName}" in namespace "${client.namespace}"`,
        this.#timeoutMs,
      );
    try {
      return await withTimeout(this.#clock, this.#timeoutMs, signal, timeout, (linked) =>
        request(requestOptions(client.module, linked, contentType)),
      );
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof ActuatorError) throw error;
      throw this.#translate(operation, what, error);
    }
  }

  #translate(operation: ActuatorOperation, what: KubernetesRequest, error: unknown): ActuatorError {
    const status = (error as { code?: unknown } | null)?.code;
    if (typeof status === 'number' && status >= 300) {
      const body = statusBody((error as { body?: unknown }).body);
      return new KubernetesApiError(this.name, operation, what, status, body.message, body.reason, error);
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new ActuatorError(
      this.name,
      operation,
      `${what.verb} ${what.resource} "${what.name}" in namespace "${what.namespace}" failed: ${detail}`,
      error,
    );
  }
}

/**
 * Per-request options for the generated client: a middleware that links the request to `signal` (so a
 * timed-out request is cancelled, not left running) and, for a patch, sets its content type (the client
 * would otherwise send a JSON Patch).
 */
function requestOptions(module: ClientModule, signal: AbortSignal, contentType: string | undefined): object {
  return {
    middleware: [
      {
        pre(context: {
          setSignal?(signal: AbortSignal): void;
          setHeaderParam(key: string, value: string): void;
        }) {
          // Older clients cannot cancel a request; the timeout still stops the wait for it.
          context.setSignal?.(signal);
          if (contentType !== undefined) context.setHeaderParam('Content-Type', contentType);
          return new module.Observable(Promise.resolve(context));
        },
        post(response: unknown) {
          return new module.Observable(Promise.resolve(response));
        },
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** The `Status` object an API error carries (as text or parsed), or nothing when it is not one. */
function statusBody(body: unknown): { message?: string; reason?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() === '' ? {} : { message: body.trim().slice(0, 500) };
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const { message, reason } = value as { message?: unknown; reason?: unknown };
  return {
    ...(typeof message === 'string' && message !== '' ? { message } : {}),
    ...(typeof reason === 'string' && reason !== '' ? { reason } : {}),
  };
}

function currentNamespace(kubeConfig: KubeConfigLike | undefined): string | undefined {
  if (kubeConfig === undefined) return undefined;
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || undefined;
}

function count(value: number | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** Names and namespaces are DNS labels or subdomains; checking early turns a typo into a clear error. */
function dnsName(option: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value)) {
    throw new ConfigError(
      option,
      value,
      'a Kubernetes object name (lower-case letters, digits, "-" and ".")',
    );
  }
  return value;
}

/**
 * An actuator for a Deployment or StatefulSet, through its scale subresource.
 *
 * ```ts
 * const actuator = kubernetesActuator({ kind: 'Deployment', name: 'web', namespace: 'shop' });
 * await actuator.capacity(); // { desired: 3, ready: 3, current: 3 }
 * await actuator.scale(5);   // PATCH /apis/apps/v1/namespaces/shop/deployments/web/scale
 * ```
 */
export function kubernetesActuator(options: KubernetesActuatorOptions): KubernetesActuator {
  return new KubernetesScaleActuator(options);
}
