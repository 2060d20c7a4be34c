import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { isConfigError } from '../../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../../src/core/virtual-clock.ts';
import {
  isActuatorError,
  isActuatorTimeoutError,
  isKubernetesApiError,
  type KubernetesApiError,
} from '../../../src/scale/actuators/errors.ts';
import { kubernetesActuator } from '../../../src/scale/actuators/kubernetes.ts';
import type { Actuator } from '../../../src/scale/types.ts';
import { KubeApi } from './kube-api.ts';

const never = new AbortController().signal;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('kubernetesActuator against a stand-in API server', () => {
  const api = new KubeApi();
  let server = '';
  before(async () => {
    server = await api.listen();
  });
  after(() => api.close());

  it('reads desired and current from the scale subresource and ready from the Deployment', async () => {
    api.put('deployments', 'shop', 'web', { replicas: 4, readyReplicas: 3, current: 5 });
    api.requests.length = 0;
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    assert.deepEqual(await actuator.capacity(never), { desired: 4, ready: 3, current: 5 });
    const seen = api.requests.map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(seen, [
      'GET /apis/apps/v1/namespaces/shop/deployments/web',
      'GET /apis/apps/v1/namespaces/shop/deployments/web/scale',
    ]);
    for (const r of api.requests) assert.equal(r.authorization, 'Bearer test-token');
  });

  it('patches the scale subresource with a merge patch of spec.replicas only', async () => {
    const web = api.put('deployments', 'shop', 'web', { replicas: 2 });
    api.requests.length = 0;
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    await actuator.scale(7, never);
    assert.equal(api.requests.length, 1);
    const [patch] = api.requests;
    assert.equal(patch!.method, 'PATCH');
    assert.equal(patch!.path, '/apis/apps/v1/namespaces/shop/deployments/web/scale');
    assert.deepEqual(patch!.query, { fieldManager: 'sluice' });
    assert.equal(patch!.contentType, 'application/merge-patch+json');
    assert.deepEqual(JSON.parse(patch!.body), { spec: { replicas: 7 } });
    assert.equal(web.replicas, 7);
  });

  it('scales to zero and reads the omitted count back as 0', async () => {
    api.put('deployments', 'shop', 'batch', { replicas: 3 });
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'batch',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    await actuator.scale(0, never);
    const o = api.objects.get('deployments/shop/batch')!;
    o.readyReplicas = 0;
    o.current = 0;
    assert.deepEqual(await actuator.capacity(never), { desired: 0, ready: 0, current: 0 });
  });

  it('uses the statefulsets paths for a StatefulSet', async () => {
    api.put('statefulsets', 'data', 'db', { replicas: 3, readyReplicas: 2 });
    api.requests.length = 0;
    const actuator = kubernetesActuator({
      kind: 'StatefulSet',
      name: 'db',
      namespace: 'data',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    assert.equal(actuator.name, 'kubernetes:statefulset/db');
    assert.deepEqual(await actuator.capacity(never), { desired: 3, ready: 2, current: 3 });
    await actuator.scale(5, never);
    assert.deepEqual(api.requests.map((r) => `${r.method} ${r.path}`).sort(), [
      'GET /apis/apps/v1/namespaces/data/statefulsets/db',
      'GET /apis/apps/v1/namespaces/data/statefulsets/db/scale',
      'PATCH /apis/apps/v1/namespaces/data/statefulsets/db/scale',
    ]);
    assert.equal(api.requests.at(-1)!.contentType, 'application/merge-patch+json');
    assert.equal(api.objects.get('statefulsets/data/db')!.replicas, 5);
  });

  it('takes the namespace of the current context, else "default"', async () => {
    api.put('deployments', 'default', 'web', { replicas: 1 });
    api.requests.length = 0;
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server),
    });
    assert.equal((await actuator.capacity(never)).desired, 1);
    assert.ok(api.requests.every((r) => r.path.startsWith('/apis/apps/v1/namespaces/default/')));
  });

  it('accepts an AppsV1Api client built by the caller', async () => {
    api.put('deployments', 'shop', 'api', { replicas: 2 });
    const client = api.kubeConfig(server, 'shop').makeApiClient(AppsV1Api);
    const actuator: Actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'api',
      namespace: 'shop',
      api: client,
    });
    await actuator.scale(3, never);
    assert.deepEqual(await actuator.capacity(never), { desired: 3, ready: 2, current: 2 });
  });

  it('names the missing RBAC rule when the API server forbids the patch', async () => {
    const strict = new KubeApi({ allow: ['get deployments', 'get deployments/scale'] });
    const url = await strict.listen();
    try {
      strict.put('deployments', 'shop', 'web', { replicas: 2 });
      const actuator = kubernetesActuator({
        kind: 'Deployment',
        name: 'web',
        kubeConfig: strict.kubeConfig(url, 'shop'),
      });
      assert.equal((await actuator.capacity(never)).desired, 2);
      const error = (await rejection(actuator.scale(4, never))) as KubernetesApiError;
      assert.ok(isKubernetesApiError(error));
      assert.equal(error.code, 'SLUICE_KUBERNETES_FORBIDDEN');
      assert.equal(error.status, 403);
      assert.equal(error.reason, 'Forbidden');
      assert.equal(error.operation, 'scale');
      assert.equal(error.verb, 'patch');
      assert.equal(error.resource, 'deployments/scale');
      assert.equal(error.resourceName, 'web');
      assert.equal(error.namespace, 'shop');
      assert.match(error.message, /forbidden to patch deployments\/scale "web" in namespace "shop"/);
      assert.match(error.message, /cannot patch resource "deployments\/scale"/, 'carries the API message');
      assert.match(error.message, /grant the verb "patch" on "deployments\/scale"/);
      assert.equal(strict.objects.get('deployments/shop/web')!.replicas, 2);
    } finally {
      await strict.close();
    }
  });

  it('reports a missing workload as not found, naming kind, name and namespace', async () => {
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'ghost',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    const error = (await rejection(actuator.capacity(never))) as KubernetesApiError;
    assert.ok(isKubernetesApiError(error));
    assert.equal(error.code, 'SLUICE_KUBERNETES_NOT_FOUND');
    assert.equal(error.operation, 'capacity');
    assert.match(error.message, /Deployment "ghost" not found in namespace "shop"/);
  });

  it('reports a conflict as a typed error and succeeds on the next call', async () => {
    api.put('deployments', 'shop', 'web', { replicas: 2 });
    api.failNextPatch = {
      status: 409,
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified',
    };
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    const error = (await rejection(actuator.scale(6, never))) as KubernetesApiError;
    assert.equal(error.code, 'SLUICE_KUBERNETES_CONFLICT');
    assert.match(
      error.message,
      /conflict on patch deployments\/scale "web" in namespace "shop" \(HTTP 409\)/,
    );
    await actuator.scale(6, never);
    assert.equal(api.objects.get('deployments/shop/web')!.replicas, 6);
  });

  it('reports refused credentials as unauthorized', async () => {
    api.put('deployments', 'shop', 'web');
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server, 'shop', 'wrong-token'),
    });
    const error = (await rejection(actuator.scale(2, never))) as KubernetesApiError;
    assert.equal(error.code, 'SLUICE_KUBERNETES_UNAUTHORIZED');
    assert.equal(error.status, 401);
  });

  it('cancels a request that runs past timeoutMs and says which one', async () => {
    api.put('deployments', 'shop', 'slow', { replicas: 1 });
    api.hang = /\/slow\/scale$/;
    const clock = new VirtualClock();
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'slow',
      timeoutMs: 2000,
      clock,
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    try {
      const pending = rejection(actuator.scale(3, never));
      while (api.held.length === 0) await flushMicrotasks();
      clock.advance(1999);
      await flushMicrotasks();
      assert.equal(api.held[0]!.closed, false);
      clock.advance(1);
      const error = await pending;
      assert.ok(isActuatorTimeoutError(error), String(error));
      assert.match(
        (error as Error).message,
        /patch deployments\/scale "slow" in namespace "shop" timed out after 2000 ms/,
      );
      while (!api.held[0]!.closed) await flushMicrotasks();
      assert.equal(clock.pending, 0);
    } finally {
      api.hang = undefined;
      for (const h of api.held.splice(0)) h.release();
    }
  });

  it('rejects with the caller reason when the caller aborts', async () => {
    api.hang = /\/web\/scale$/;
    const actuator = kubernetesActuator({
      kind: 'Deployment',
      name: 'web',
      kubeConfig: api.kubeConfig(server, 'shop'),
    });
    try {
      const controller = new AbortController();
      const pending = rejection(actuator.scale(3, controller.signal));
      while (api.held.length === 0) await flushMicrotasks();
      const reason = new Error('tick deadline');
      controller.abort(reason);
      assert.equal(await pending, reason);
    } finally {
      api.hang = undefined;
      for (const h of api.held.splice(0)) h.release();
    }
  });
});

describe('kubernetesActuator options', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ kind: 'ReplicaSet', name: 'web' }, 'kind'],
    [{ kind: 'Deployment', name: 'Web_1' }, 'name'],
    [{ kind: 'Deployment', name: '' }, 'name'],
    [{ kind: 'Deployment', name: 'web', namespace: 'Shop' }, 'namespace'],
    [{ kind: 'Deployment', name: 'web', timeoutMs: 0 }, 'timeoutMs'],
    [{ kind: 'Deployment', name: 'web', fieldManager: '' }, 'fieldManager'],
    [{ kind: 'Deployment', name: 'web', api: {}, kubeConfig: {} }, 'api'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => kubernetesActuator(options as never),
        (error) => isConfigError(error) && error.option === option && error.message.includes(option),
      );
    });
  }

  it('rejects a replica count that is not an integer >= 0', async () => {
    const actuator = kubernetesActuator({ kind: 'Deployment', name: 'web', api: {} as never });
    for (const n of [-1, 1.5, Number.NaN]) {
      assert.ok(isConfigError(await rejection(actuator.scale(n, never))));
    }
  });

  it('says when the kubeconfig cannot make a client', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({ clusters: [], users: [], contexts: [], currentContext: 'gone' });
    const actuator = kubernetesActuator({ kind: 'Deployment', name: 'web', kubeConfig });
    const error = await rejection(actuator.capacity(never));
    assert.ok(isActuatorError(error));
    assert.match((error as Error).message, /cannot make a client from the kubeconfig: No active cluster/);
  });

  it('does not load @kubernetes/client-node until it is used', () => {
    const module = new URL('../../../src/scale/actuators/kubernetes.ts', import.meta.url).href;
    const script = `
      import { registerHooks } from 'node:module';
      const bare = [];
      registerHooks({
        resolve(specifier, context, next) {
          if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) bare.push(specifier);
          return next(specifier, context);
        },
      });
      const { kubernetesActuator } = await import(${JSON.stringify(module)});
      kubernetesActuator({ kind: 'Deployment', name: 'web', api: {} });
      console.log(JSON.stringify(bare));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), []);
  });
});
