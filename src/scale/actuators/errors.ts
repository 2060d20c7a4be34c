import { isSluiceError, SluiceError } from '../../core/errors.ts';

/** What the actuator was doing when it failed. */
export type ActuatorOperation = 'capacity' | 'scale';

/**
 * An actuator could not read or apply capacity. The subclasses carry the details of their backend (an HTTP
 * status, an exit code); this base is thrown as is for failures that have none (the actuator was closed, a
 * capacity answer could not be read).
 */
export class ActuatorError extends SluiceError {
  readonly code: string = 'SLUICE_ACTUATOR';
  override readonly name: string = 'ActuatorError';
  /** The actuator's name, e.g. `"kubernetes:deployment/web"`. */
  readonly actuator: string;
  readonly operation: ActuatorOperation;

  constructor(actuator: string, operation: ActuatorOperation, message: string, cause?: unknown) {
    super(`sluice: ${actuator}: ${message}`, cause === undefined ? undefined : { cause });
    this.actuator = actuator;
    this.operation = operation;
  }
}

/** True for any actuator error (from any copy of sluice). */
export function isActuatorError(error: unknown): error is ActuatorError {
  return (
    isSluiceError(error) &&
    typeof (error as ActuatorError).actuator === 'string' &&
    typeof (error as ActuatorError).operation === 'string'
  );
}

/** A request, command or call ran past the actuator's `timeoutMs` and was abandoned (a command is killed). */
export class ActuatorTimeoutError extends ActuatorError {
  override readonly code = 'SLUICE_ACTUATOR_TIMEOUT';
  override readonly name = 'ActuatorTimeoutError';
  readonly timeoutMs: number;

  constructor(actuator: string, operation: ActuatorOperation, what: string, timeoutMs: number) {
    super(actuator, operation, `${what} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

export function isActuatorTimeoutError(error: unknown): error is ActuatorTimeoutError {
  return isActuatorError(error) && error.code === 'SLUICE_ACTUATOR_TIMEOUT';
}

const kubernetesCodes = {
  401: 'SLUICE_KUBERNETES_UNAUTHORIZED',
  403: 'SLUICE_KUBERNETES_FORBIDDEN',
  404: 'SLUICE_KUBERNETES_NOT_FOUND',
  409: 'SLUICE_KUBERNETES_CONFLICT',
} as const;

export type KubernetesErrorCode =
  | (typeof kubernetesCodes)[keyof typeof kubernetesCodes]
  | 'SLUICE_KUBERNETES_API';

export interface KubernetesRequest {
  /** `"get"` or `"patch"`: the RBAC verb the request needs. */
  readonly verb: 'get' | 'patch';
  /** The RBAC resource, e.g. `"deployments/scale"` or `"statefulsets"`. */
  readonly resource: string;
  /** The object's kind, e.g. `"Deployment"`. */
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

/**
 * The Kubernetes API server refused a request, or answered one with an error. `code` tells the common cases
 * apart (forbidden, not found, conflict, unauthorized); the message names the resource and, when the fix is
 * known, says what to change.
 */
export class KubernetesApiError extends ActuatorError {
  override readonly code: KubernetesErrorCode;
  override readonly name = 'KubernetesApiError';
  /** HTTP status of the answer. */
  readonly status: number;
  /** The API's `Status.reason` (e.g. `"Forbidden"`, `"NotFound"`), when it sent one. */
  readonly reason: string | undefined;
  readonly verb: 'get' | 'patch';
  readonly resource: string;
  readonly kind: string;
  readonly resourceName: string;
  readonly namespace: string;

  constructor(
    actuator: string,
    operation: ActuatorOperation,
    request: KubernetesRequest,
    status: number,
    apiMessage: string | undefined,
    reason: string | undefined,
    cause?: unknown,
  ) {
    super(actuator, operation, kubernetesMessage(request, status, apiMessage), cause);
    this.code = kubernetesCodes[status as keyof typeof kubernetesCodes] ?? 'SLUICE_KUBERNETES_API';
    this.status = status;
    this.reason = reason;
    this.verb = request.verb;
    this.resource = request.resource;
    this.kind = request.kind;
    this.resourceName = request.name;
    this.namespace = request.namespace;
  }
}

export function isKubernetesApiError(error: unknown): error is KubernetesApiError {
  return isActuatorError(error) && error.code.startsWith('SLUICE_KUBERNETES_');
}

function kubernetesMessage(r: KubernetesRequest, status: number, apiMessage: string | undefined): string {
  const what = `${r.verb} ${r.resource} "${r.name}" in namespace "${r.namespace}"`;
  const said = apiMessage ? `: ${apiMessage}` : '';
  switch (status) {
    case 401:
      return `unauthorized to ${what} (HTTP 401)${said}; the API server refused the credentials of the kubeconfig`;
    case 403:
      return (
        `forbidden to ${what} (HTTP 403)${said}; grant the verb "${r.verb}" on "${r.resource}" in namespace ` +
        `"${r.namespace}" to the identity sluice runs as (a Role and RoleBinding: docs/scaling-kubernetes.md)`
      );
    case 404:
      return `${r.kind} "${r.name}" not found in namespace "${r.namespace}" (HTTP 404 on ${r.verb} ${r.resource})${said}`;
    case 409:
      return `conflict on ${what} (HTTP 409)${said}; the object changed meanwhile, the next decision retries`;
    default:
      return `the API server answered ${status} to ${what}${said}`;
  }
}

/** A command exited with a non-zero code or was killed by a signal. */
export class CommandError extends ActuatorError {
  override readonly code = 'SLUICE_COMMAND_FAILED';
  override readonly name = 'CommandError';
  /** The command as run, after templating. */
  readonly command: readonly string[];
  /** Exit code, or `null` when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last bytes the command wrote to stderr (at most 4 KiB). */
  readonly stderr: string;

  constructor(
    actuator: string,
    operation: ActuatorOperation,
    command: readonly string[],
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    stderr: string,
  ) {
    const how = exitCode === null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const last = lastLines(stderr, 3);
    super(actuator, operation, `command ${quote(command)} ${how}${last ? `: ${last}` : ''}`);
    this.command = command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderr = stderr;
  }
}

export function isCommandError(error: unknown): error is CommandError {
  return isActuatorError(error) && error.code === 'SLUICE_COMMAND_FAILED';
}

/** A webhook answered with a status outside 2xx. */
export class WebhookError extends ActuatorError {
  override readonly code = 'SLUICE_WEBHOOK_STATUS';
  override readonly name = 'WebhookError';
  readonly method: string;
  /** The URL without its query (which may hold credentials). */
  readonly url: string;
  readonly status: number;
  /** The start of the answer's body (at most 1 KiB). */
  readonly body: string;

  constructor(
    actuator: string,
    operation: ActuatorOperation,
    method: string,
    url: string,
    status: number,
    body: string,
  ) {
    const said = body.trim() ? `: ${lastLines(body, 3)}` : '';
    super(actuator, operation, `${method} ${url} answered ${status}${said}`);
    this.method = method;
    this.url = url;
    this.status = status;
    this.body = body;
  }
}

export function isWebhookError(error: unknown): error is WebhookError {
  return isActuatorError(error) && error.code === 'SLUICE_WEBHOOK_STATUS';
}

function lastLines(text: string, n: number): string {
  return text.trim().split(/\r?\n/).slice(-n).join(' | ');
}

/** A command line for messages: arguments with spaces or quotes are JSON-quoted. */
export function quote(command: readonly string[]): string {
  return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
