import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A stand-in for the Kubernetes API server, enough of it for the scale subresource of Deployments and
 * StatefulSets in group apps/v1: it checks what a real one checks (bearer token, RBAC verb on the
 * resource, patch content type, merge-patch semantics), answers with the same objects and `Status`
 * errors, and records every request so tests can assert on the exact calls.
 */

export interface Workload {
  replicas: number;
  readyReplicas: number;
  /** Pods that exist (`status.replicas`). */
  current: number;
  resourceVersion: number;
}

export interface Recorded {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: string;
}

/** `"<verb> <resource>"`, e.g. `"patch deployments/scale"`. */
export type Rule = `${'get' | 'patch'} ${string}`;

export interface KubeApiOptions {
  readonly token?: string;
  /** Allowed verb-resource pairs; default all four that the actuator needs. */
  readonly allow?: readonly Rule[];
  /** Identity named in 403 messages. */
  readonly user?: string;
}

const kinds = { deployments: 'Deployment', statefulsets: 'StatefulSet' } as const;
type Plural = keyof typeof kinds;

export class KubeApi {
  readonly requests: Recorded[] = [];
  /** Objects by `"<plural>/<namespace>/<name>"`. */
  readonly objects = new Map<string, Workload>();
  /** Answers the next patch with this status (then forgets it). */
  failNextPatch: { status: number; reason: string; message: string } | undefined;
  /** Requests whose path matches are held unanswered until the test releases them. */
  hang: RegExp | undefined;
  /** Requests held by `hang`, and whether the client has gone away. */
  readonly held: { path: string; closed: boolean; release(): void }[] = [];
  readonly #server: Server;
  readonly #token: string;
  readonly #allow: Set<string>;
  readonly #user: string;

  constructor(options: KubeApiOptions = {}) {
    this.#token = options.token ?? 'test-token';
    this.#allow = new Set(
      options.allow ?? [
        'get deployments',
        'get deployments/scale',
        'patch deployments/scale',
        'get statefulsets',
        'get statefulsets/scale',
        'patch statefulsets/scale',
      ],
    );
    this.#user = options.user ?? 'system:serviceaccount:shop:sluice';
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => this.#handle(req, res, body));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  close(): Promise<void> {
    for (const h of this.held) h.release();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  put(plural: Plural, namespace: string, name: string, workload: Partial<Workload> = {}): Workload {
    const replicas = workload.replicas ?? 1;
    const object: Workload = {
      replicas,
      readyReplicas: workload.readyReplicas ?? replicas,
      current: workload.current ?? replicas,
      resourceVersion: workload.resourceVersion ?? 100,
    };
    this.objects.set(`${plural}/${namespace}/${name}`, object);
    return object;
  }

  /** A KubeConfig for this server, built as a user would with `loadFromOptions`. */
  kubeConfig(server: string, namespace?: string, token = this.#token): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'stand-in', server, skipTLSVerify: true }],
      users: [{ name: 'sluice', token }],
      contexts: [
        { name: 'stand-in', cluster: 'stand-in', user: 'sluice', ...(namespace ? { namespace } : {}) },
      ],
      currentContext: 'stand-in',
    });
    return kc;
  }

  #handle(req: IncomingMessage, res: ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    this.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body,
    });
    if (this.hang?.test(url.pathname)) {
      const entry = {
        path: url.pathname,
        closed: false,
        release: () => {
          if (!res.writableEnded) res.destroy();
        },
      };
      res.on('close', () => {
        entry.closed = true;
      });
      this.held.push(entry);
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.#token}`) {
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const match =
      /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)\/([^/]+)(\/scale)?$/.exec(
        url.pathname,
      );
    if (match === null)
      return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, plural, name, sub] = match as unknown as [string, string, Plural, string, string?];
    const resource = sub ? `${plural}/scale` : plural;
    const verb = req.method === 'GET' ? 'get' : req.method === 'PATCH' ? 'patch' : req.method?.toLowerCase();
    if (!this.#allow.has(`${verb} ${resource}`)) {
      return status(
        res,
        403,
        'Forbidden',
        `${plural}.apps "${name}" is forbidden: User "${this.#user}" cannot ${verb} resource "${resource}" ` +
          `in API group "apps" in the namespace "${namespace}"`,
      );
    }
    const object = this.objects.get(`${plural}/${namespace}/${name}`);
    if (object === undefined) return status(res, 404, 'NotFound', `${plural}.apps "${name}" not found`);
    if (req.method === 'GET') {
      return json(
        res,
        200,
        sub ? scaleOf(object, namespace, name) : workloadOf(object, plural, namespace, name),
      );
    }
    if (req.method !== 'PATCH' || !sub) return status(res, 405, 'MethodNotAllowed', 'method not allowed');
    const patchTypes = [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ];
    const type = req.headers['content-type']?.split(';')[0]?.trim();
    if (type === undefined || !patchTypes.includes(type)) {
      return status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format`);
    }
    if (this.failNextPatch !== undefined) {
      const { status: code, reason, message } = this.failNextPatch;
      this.failNextPatch = undefined;
      return status(res, code, reason, message);
    }
    if (type !== 'application/merge-patch+json') {
      return status(res, 400, 'BadRequest', `the stand-in only applies merge patches, got ${type}`);
    }
    let patch: unknown;
    try {
      patch = JSON.parse(body);
    } catch {
      return status(res, 400, 'BadRequest', 'invalid JSON in the patch');
    }
    const replicas = (patch as { spec?: { replicas?: unknown } } | null)?.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      return status(res, 422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas`);
    }
    object.replicas = replicas;
    object.resourceVersion++;
    return json(res, 200, scaleOf(object, namespace, name));
  }
}

function scaleOf(o: Workload, namespace: string, name: string): object {
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid: `uid-${name}`, resourceVersion: String(o.resourceVersion) },
    // Like the real server (omitempty), a count of 0 is left out.
    spec: o.replicas === 0 ? {} : { replicas: o.replicas },
    status: { replicas: o.current, selector: `app=${name}` },
  };
}

function workloadOf(o: Workload, plural: Plural, namespace: string, name: string): object {
  return {
    kind: kinds[plural],
    apiVersion: 'apps/v1',
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      resourceVersion: String(o.resourceVersion),
      generation: 3,
    },
    spec: { replicas: o.replicas, selector: { matchLabels: { app: name } } },
    status: {
      observedGeneration: 3,
      replicas: o.current,
      ...(o.readyReplicas === 0
        ? {}
        : { readyReplicas: o.readyReplicas, availableReplicas: o.readyReplicas }),
    },
  };
}

function json(res: ServerResponse, code: number, value: object): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}
